# Reference p-values for the baseline table (Table 1), on survival's `lung` data.
# Run from the repository root:  Rscript tests/reference/r/table_one.R
library(survival)
d <- lung
d$sex <- ifelse(d$sex == 1, "male", "female")
d$ecog <- as.character(d$ph.ecog)
write.csv(d[, c("age", "sex", "ecog", "wt.loss", "inst")], "tests/reference/data/table_one_lung.csv",
          row.names = FALSE, na = "")
ok <- !is.na(d$ecog)
out <- list(
  kruskal_age_by_sex = kruskal.test(age ~ sex, data = d)$p.value,
  kruskal_wtloss_by_sex = kruskal.test(wt.loss ~ sex, data = d)$p.value,
  chisq_ecog_by_sex = suppressWarnings(chisq.test(table(d$sex[ok], d$ecog[ok]), correct = FALSE)$p.value),
  # a 2x2 table (ECOG 0 or not, by sex): without and with Yates' continuity correction
  chisq_ecog0_by_sex = chisq.test(table(d$sex[ok], d$ecog[ok] == "0"), correct = FALSE)$p.value,
  chisq_ecog0_by_sex_yates = chisq.test(table(d$sex[ok], d$ecog[ok] == "0"), correct = TRUE)$p.value,
  median_age_female = median(d$age[d$sex == "female"]),
  q1_age_female = unname(quantile(d$age[d$sex == "female"], 0.25, type = 7)),
  q3_age_female = unname(quantile(d$age[d$sex == "female"], 0.75, type = 7)),
  # SMD of age between sexes, as tableone::ExtractSmd computes it (pooled SD, unweighted)
  smd_age = abs(mean(d$age[d$sex == "male"]) - mean(d$age[d$sex == "female"])) /
    sqrt((var(d$age[d$sex == "male"]) + var(d$age[d$sex == "female"])) / 2),
  missing_wtloss = sum(is.na(d$wt.loss))
)
writeLines(jsonlite::toJSON(out, digits = NA, auto_unbox = TRUE), "tests/reference/data/table_one_lung.json")
