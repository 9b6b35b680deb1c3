# Reference numbers for crlm.stats from R's survival and pROC packages.
#
# Run from the repository root:
#     Rscript tests/reference/r/make_reference.R
# Writes the public datasets used (CSV) and R's results (JSON) into
# tests/reference/data/. The Python tests read only those files.
# Needs Debian's r-base-core, r-cran-survival, r-cran-proc, r-cran-jsonlite and
# r-cran-riskregression (time-dependent AUC).
suppressPackageStartupMessages({
  library(survival)
  library(pROC)
  library(jsonlite)
  library(riskRegression)
})

out_dir <- file.path("tests", "reference", "data")
dir.create(out_dir, showWarnings = FALSE, recursive = TRUE)
write_data <- function(df, name) {
  write.csv(df, file.path(out_dir, paste0(name, ".csv")), row.names = FALSE, na = "")
}

# ---------------------------------------------------------------- datasets
lung_df <- survival::lung
lung_df$event <- as.integer(lung_df$status == 2)
veteran_df <- survival::veteran
ovarian_df <- survival::ovarian
aml_df <- survival::aml
data(aSAH, package = "pROC")
asah_df <- data.frame(
  outcome_poor = as.integer(aSAH$outcome == "Poor"),
  s100b = aSAH$s100b, ndka = aSAH$ndka, wfns = as.integer(aSAH$wfns),
  age = aSAH$age
)
# small hand-made curve that sits exactly at 0.5 on a flat segment
tiny_df <- data.frame(time = c(1, 2, 3, 4), event = c(1, 1, 0, 1))
write_data(lung_df, "lung")
write_data(veteran_df, "veteran")
write_data(ovarian_df, "ovarian")
write_data(aml_df, "aml")
write_data(asah_df, "asah")
write_data(tiny_df, "tiny")
# colon: the death records (etype 2), time in days, and a logistic risk of death
# from a glm on age, sex, obstruction, > 4 nodes, extent and treatment
colon_df <- survival::colon[survival::colon$etype == 2,
                            c("id", "time", "status", "rx", "sex", "age", "obstruct", "node4", "extent")]
colon_glm <- glm(status ~ age + sex + obstruct + node4 + extent + rx, family = binomial, data = colon_df)
colon_df$risk <- unname(predict(colon_glm, newdata = colon_df, type = "response"))
write_data(colon_df, "colon")

res <- list(versions = list(
  R = R.version.string,
  survival = as.character(packageVersion("survival")),
  pROC = as.character(packageVersion("pROC")),
  riskRegression = as.character(packageVersion("riskRegression")),
  prodlim = as.character(packageVersion("prodlim"))
))

# ---------------------------------------------------------------- Kaplan–Meier
km_record <- function(time, event, conf_type, at_times) {
  fit <- survfit(Surv(time, event) ~ 1, conf.type = conf_type)
  q <- quantile(fit, probs = 0.5)
  s <- summary(fit, times = at_times, extend = TRUE)
  list(
    time = fit$time, surv = fit$surv, std_err = fit$std.err,
    lower = fit$lower, upper = fit$upper,
    n_risk = fit$n.risk, n_event = fit$n.event, n_censor = fit$n.censor,
    median = unname(q$quantile), median_lower = unname(q$lower),
    median_upper = unname(q$upper),
    at_times = at_times, at_surv = s$surv, at_lower = s$lower, at_upper = s$upper,
    at_n_risk = s$n.risk, at_std_err = s$std.err
  )
}
km_cases <- list(
  lung = list(df = lung_df, time = "time", event = "event", at = c(90, 180, 365, 730, 1000)),
  veteran = list(df = veteran_df, time = "time", event = "status", at = c(30, 90, 180, 365)),
  aml = list(df = aml_df, time = "time", event = "status", at = c(10, 20, 40)),
  ovarian = list(df = ovarian_df, time = "futime", event = "fustat", at = c(200, 400, 800)),
  tiny = list(df = tiny_df, time = "time", event = "event", at = c(0.5, 2, 3.5, 10))
)
res$km <- list()
for (nm in names(km_cases)) {
  cs <- km_cases[[nm]]
  for (ct in c("log", "log-log", "plain")) {
    res$km[[paste(nm, ct, sep = "|")]] <- km_record(cs$df[[cs$time]], cs$df[[cs$event]], ct, cs$at)
  }
}
# per group (aml by maintenance)
res$km_by <- list()
for (lev in levels(aml_df$x)) {
  sub <- aml_df[aml_df$x == lev, ]
  res$km_by[[lev]] <- km_record(sub$time, sub$status, "log-log", c(10, 20))
}

# median follow-up, reverse Kaplan–Meier
rf <- quantile(survfit(Surv(time, 1 - event) ~ 1, data = lung_df, conf.type = "log-log"), 0.5)
res$follow_up_lung <- list(median = unname(rf$quantile), lower = unname(rf$lower), upper = unname(rf$upper))

# ---------------------------------------------------------------- log-rank
lr <- function(formula, data) {
  sd <- survdiff(formula, data = data)
  obs <- if (is.matrix(sd$obs)) rowSums(sd$obs) else sd$obs
  ex <- if (is.matrix(sd$exp)) rowSums(sd$exp) else sd$exp
  df <- sum(ex > 0) - 1
  list(chisq = sd$chisq, df = df, p = pchisq(sd$chisq, df, lower.tail = FALSE),
       groups = sub(".*=", "", names(sd$n)), observed = unname(obs), expected = unname(ex))
}
res$logrank <- list(
  lung_sex = lr(Surv(time, event) ~ sex, lung_df),
  veteran_celltype = lr(Surv(time, status) ~ celltype, veteran_df),
  veteran_trt_strata_celltype = lr(Surv(time, status) ~ trt + strata(celltype), veteran_df),
  ovarian_rx = lr(Surv(futime, fustat) ~ rx, ovarian_df),
  aml_x = lr(Surv(time, status) ~ x, aml_df)
)

# ---------------------------------------------------------------- Cox
cox_record <- function(fit) {
  s <- summary(fit)
  zph <- cox.zph(fit, transform = "km")
  list(
    terms = names(coef(fit)), coef = unname(coef(fit)), se = unname(sqrt(diag(vcov(fit)))),
    hr = unname(exp(coef(fit))), lower = unname(s$conf.int[, "lower .95"]),
    upper = unname(s$conf.int[, "upper .95"]), z = unname(s$coefficients[, "z"]),
    p = unname(s$coefficients[, "Pr(>|z|)"]),
    loglik = fit$loglik[2], loglik_null = fit$loglik[1], n = fit$n, nevent = fit$nevent,
    concordance = unname(fit$concordance["concordance"]),
    zph_chisq = unname(zph$table[, "chisq"]), zph_df = unname(zph$table[, "df"]),
    zph_p = unname(zph$table[, "p"])
  )
}
# converge tighter than the default (eps 1e-9) so that 1e-6 relative comparisons test the
# model, not where Newton-Raphson happened to stop
ctl <- coxph.control(eps = 1e-12, toler.chol = 1e-14, iter.max = 50)
lung_cc <- lung_df[complete.cases(lung_df[, c("time", "event", "age", "sex", "ph.ecog")]), ]
res$cox <- list(
  lung_efron = cox_record(coxph(Surv(time, event) ~ age + sex + ph.ecog, data = lung_df,
                                ties = "efron", control = ctl)),
  lung_breslow = cox_record(coxph(Surv(time, event) ~ age + sex + ph.ecog, data = lung_df,
                                  ties = "breslow", control = ctl)),
  lung_strata_sex = cox_record(coxph(Surv(time, event) ~ age + ph.ecog + strata(sex),
                                     data = lung_df, control = ctl)),
  veteran_efron = cox_record(coxph(Surv(time, status) ~ trt + karno + age + diagtime,
                                   data = veteran_df, control = ctl)),
  ovarian_breslow = cox_record(coxph(Surv(futime, fustat) ~ age + ecog.ps, data = ovarian_df,
                                     ties = "breslow", control = ctl))
)
# nested-model likelihood-ratio test (same complete cases)
full <- coxph(Surv(time, event) ~ age + sex + ph.ecog, data = lung_cc, control = ctl)
reduced <- coxph(Surv(time, event) ~ age, data = lung_cc, control = ctl)
a <- anova(reduced, full)
res$lrt_lung <- list(statistic = a$Chisq[2], df = a$Df[2], p = a[["Pr(>|Chi|)"]][2])

# ---------------------------------------------------------------- concordance
cc <- function(formula, data) {
  k <- concordance(formula, data = data, reverse = TRUE)
  list(concordance = unname(k$concordance), concordant = unname(k$count["concordant"]),
       discordant = unname(k$count["discordant"]), tied_x = unname(k$count["tied.x"]))
}
res$concordance <- list(
  lung_age = cc(Surv(time, event) ~ age, lung_df),
  veteran_karno = cc(Surv(time, status) ~ karno, veteran_df),
  lung_ph_ecog = cc(Surv(time, event) ~ ph.ecog, lung_df[!is.na(lung_df$ph.ecog), ])
)

# ---------------------------------------------------------------- pROC
roc_record <- function(score) {
  r <- roc(asah_df$outcome_poor, asah_df[[score]], levels = c(0, 1), direction = "<", quiet = TRUE)
  ci <- ci.auc(r, method = "delong")
  best <- coords(r, x = "best", best.method = "youden",
                 ret = c("threshold", "sensitivity", "specificity"), transpose = FALSE)
  all <- coords(r, x = "all", ret = c("threshold", "sensitivity", "specificity"), transpose = FALSE)
  list(auc = as.numeric(auc(r)), ci_lower = ci[1], ci_upper = ci[3],
       best_threshold = best$threshold, best_sensitivity = best$sensitivity,
       best_specificity = best$specificity,
       thresholds = all$threshold, sensitivities = all$sensitivity, specificities = all$specificity)
}
res$roc <- list(s100b = roc_record("s100b"), ndka = roc_record("ndka"), wfns = roc_record("wfns"))
paired <- function(a, b) {
  ra <- roc(asah_df$outcome_poor, asah_df[[a]], levels = c(0, 1), direction = "<", quiet = TRUE)
  rb <- roc(asah_df$outcome_poor, asah_df[[b]], levels = c(0, 1), direction = "<", quiet = TRUE)
  t <- roc.test(ra, rb, method = "delong", paired = TRUE)
  list(z = unname(t$statistic), p = t$p.value, auc_a = as.numeric(auc(ra)), auc_b = as.numeric(auc(rb)))
}
res$delong <- list(s100b_ndka = paired("s100b", "ndka"), wfns_s100b = paired("wfns", "s100b"))
# perfectly separating scores: pROC gives AUC 1 with CI (1, 1)
sep <- roc(c(0, 0, 0, 1, 1, 1), c(1, 2, 3, 4, 5, 6), levels = c(0, 1), direction = "<", quiet = TRUE)
sep_ci <- suppressWarnings(ci.auc(sep, method = "delong"))
res$roc_separating <- list(auc = as.numeric(auc(sep)), ci_lower = sep_ci[1], ci_upper = sep_ci[3])

# ---------------------------------------------------------------- RMST
# survRM2's rmst1() formula, integrating the survfit curve directly
rmst_one <- function(time, status, tau) {
  ft <- survfit(Surv(time, status) ~ 1)
  idx <- ft$time <= tau
  wk_time <- sort(c(ft$time[idx], tau))
  wk_surv <- ft$surv[idx]
  wk_n_risk <- ft$n.risk[idx]
  wk_n_event <- ft$n.event[idx]
  areas <- diff(c(0, wk_time)) * c(1, wk_surv)
  est <- sum(areas)
  wk_var <- ifelse((wk_n_risk - wk_n_event) == 0, 0, wk_n_event / (wk_n_risk * (wk_n_risk - wk_n_event)))
  wk_var <- c(wk_var, 0)
  v <- sum(cumsum(rev(areas[-1]))^2 * rev(wk_var)[-1])
  c(rmst = est, se = sqrt(v))
}
rm_case <- function(time, status, arm, tau) {
  r0 <- rmst_one(time[arm == 0], status[arm == 0], tau)
  r1 <- rmst_one(time[arm == 1], status[arm == 1], tau)
  diff <- r1[["rmst"]] - r0[["rmst"]]
  se <- sqrt(r1[["se"]]^2 + r0[["se"]]^2)
  list(tau = tau, rmst0 = r0[["rmst"]], se0 = r0[["se"]], rmst1 = r1[["rmst"]], se1 = r1[["se"]],
       diff = diff, diff_lower = diff - qnorm(0.975) * se, diff_upper = diff + qnorm(0.975) * se,
       p = 2 * pnorm(-abs(diff) / se))
}
res$rmst <- list(
  lung_sex_730 = rm_case(lung_df$time, lung_df$event, as.integer(lung_df$sex == 2), 730),
  veteran_trt_200 = rm_case(veteran_df$time, veteran_df$status, as.integer(veteran_df$trt == 2), 200)
)

# ---------------------------------------------------------------- time-dependent AUC
# riskRegression::Score, cumulative/dynamic AUC with Kaplan-Meier censoring weights:
# cases weighted 1/G(T_i-), controls 1/G(t)
td_auc <- function(time, event, risk, times) {
  d <- data.frame(time = time, event = event)
  s <- Score(list(risk = risk), formula = Surv(time, event) ~ 1, data = d, times = times,
             metrics = "auc", cens.model = "km", null.model = FALSE, conf.int = FALSE)
  list(times = times, auc = s$AUC$score$AUC)
}
res$td_auc <- list(
  colon_os_5y_logistic = td_auc(colon_df$time, colon_df$status, colon_df$risk, 5 * 365.25),
  lung_1y_age = td_auc(lung_df$time, lung_df$event, lung_df$age, 365)
)

writeLines(toJSON(res, digits = NA, auto_unbox = TRUE, na = "null", pretty = TRUE),
           file.path(out_dir, "r_results.json"))
cat("wrote", file.path(out_dir, "r_results.json"), "\n")
