# survival::colon (Moertel et al. 1990, adjuvant levamisole / 5-FU in stage III colon
# cancer) as a centre's own cohort: one row per patient, death and recurrence in days.
# Writes OUT/colon_trial.csv and the reference numbers OUT/colon_trial.json.
# Usage: Rscript colon_trial.R OUT_DIR
suppressMessages(library(survival))
args <- commandArgs(trailingOnly = TRUE)
out <- if (length(args)) args[1] else "."
death <- colon[colon$etype == 2, ]
recur <- colon[colon$etype == 1, ]
stopifnot(all(death$id == recur$id))
trial <- data.frame(id = death$id, rx = as.character(death$rx), sex = death$sex,
                    age = death$age, obstruct = death$obstruct, perfor = death$perfor,
                    adhere = death$adhere, nodes = death$nodes, differ = death$differ,
                    extent = death$extent, surg = death$surg, node4 = death$node4,
                    os_days = death$time, died = death$status,
                    rfs_days = recur$time, recurred = recur$status)
write.csv(trial, file.path(out, "colon_trial.csv"), row.names = FALSE, na = "")

# the numbers, on the time scale the store uses (months of 30.4375 days)
d <- trial
d$os_m <- d$os_days / 30.4375
d$rx <- factor(d$rx, levels = c("Obs", "Lev", "Lev+5FU"))
ref <- list()
fit <- survfit(Surv(os_m, died) ~ rx, data = d, conf.type = "log-log")
s <- summary(fit, times = c(12, 36, 60), extend = TRUE)
tab <- summary(fit)$table
for (k in seq_along(levels(d$rx))) {
  arm <- levels(d$rx)[k]
  ref[[paste0("km_", arm)]] <- list(
    n = unname(tab[k, "records"]), events = unname(tab[k, "events"]),
    median = unname(tab[k, "median"]), median_lower = unname(tab[k, "0.95LCL"]),
    median_upper = unname(tab[k, "0.95UCL"]),
    surv = unname(s$surv[s$strata == names(fit$strata)[k]]),
    lower = unname(s$lower[s$strata == names(fit$strata)[k]]),
    upper = unname(s$upper[s$strata == names(fit$strata)[k]]))
}
sd <- survdiff(Surv(os_m, died) ~ rx, data = d)
ref$logrank_rx <- list(chisq = unname(sd$chisq),
                       p = pchisq(sd$chisq, length(sd$n) - 1, lower.tail = FALSE))
cx <- coxph(Surv(os_m, died) ~ rx, data = d, ties = "efron")
ci <- summary(cx)$conf.int
ref$cox_rx <- list(hr = unname(ci[, 1]), lower = unname(ci[, 3]), upper = unname(ci[, 4]),
                   terms = c("Lev", "Lev+5FU"))
# positive nodes cut at their median; missing counts as its own group ("unknown")
med <- median(d$nodes, na.rm = TRUE)
d$nodes_group <- ifelse(is.na(d$nodes), "unknown", ifelse(d$nodes <= med, "low", "high"))
sd <- survdiff(Surv(os_m, died) ~ nodes_group, data = d)
ref$logrank_nodes_median <- list(median = med, chisq = unname(sd$chisq),
                                 p = pchisq(sd$chisq, length(sd$n) - 1, lower.tail = FALSE),
                                 n = as.list(sd$n))
# Table 1 by sex: the arm (chi-square, no continuity correction) and positive nodes
ref$table1_rx_by_sex_p <- chisq.test(table(d$rx, d$sex), correct = FALSE)$p.value
ref$table1_nodes_by_sex_p <- kruskal.test(nodes ~ factor(sex), data = d)$p.value
ref$nodes_quartiles <- unname(quantile(d$nodes, c(0.25, 0.5, 0.75), na.rm = TRUE, type = 7))
# subgroup forest: Lev+5FU vs Obs within sex (0 = female, 1 = male), and the interaction
two <- d[d$rx != "Lev", ]
two$arm <- as.numeric(two$rx == "Lev+5FU")
for (sx in c(0, 1)) {
  f <- coxph(Surv(os_m, died) ~ arm, data = two[two$sex == sx, ], ties = "efron")
  ci <- summary(f)$conf.int
  ref[[paste0("forest_sex_", sx)]] <- list(hr = ci[1, 1], lower = ci[1, 3], upper = ci[1, 4],
                                          n = f$n, events = f$nevent)
}
f0 <- coxph(Surv(os_m, died) ~ arm + factor(sex), data = two, ties = "efron")
f1 <- coxph(Surv(os_m, died) ~ arm * factor(sex), data = two, ties = "efron")
ref$forest_sex_interaction_p <- pchisq(2 * (f1$loglik[2] - f0$loglik[2]), 1, lower.tail = FALSE)
# a tiny JSON writer (no jsonlite dependency): numbers at 17 significant digits
to_json <- function(x) {
  enc <- function(v) {
    if (is.list(v)) {
      return(paste0("{", paste0('"', names(v), '": ', vapply(v, enc, ""), collapse = ", "), "}"))
    }
    if (is.character(v)) {
      return(if (length(v) == 1) paste0('"', v, '"')
             else paste0("[", paste0('"', v, '"', collapse = ", "), "]"))
    }
    txt <- ifelse(is.na(v), "null", formatC(v, digits = 17, format = "g"))
    if (length(v) == 1) txt else paste0("[", paste(txt, collapse = ", "), "]")
  }
  enc(x)
}
writeLines(to_json(ref), file.path(out, "colon_trial.json"))
