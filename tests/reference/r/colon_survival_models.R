# Two survival risk scores on survival::colon (one row per patient, as
# colon_trial.R writes it), for the Models page's survival sections: Harrell's C with
# its variance and the covariance of the two (concordance), and the first score's
# tertile groups: Kaplan-Meier at 1, 3 and 5 years (log-log), log-rank and Cox (Efron).
# Usage: Rscript colon_survival_models.R COLON_TRIAL_CSV OUT_JSON
suppressMessages(library(survival))
args <- commandArgs(trailingOnly = TRUE)
d <- read.csv(args[1])
d$os_m <- d$os_days / 30.4375
# the two scores the tests register as models (higher = shorter survival)
d$a <- d$node4 + 0.3 * d$extent + 0.2 * d$obstruct
d$b <- d$age / 100 + 0.5 * d$node4 + 0.1 * d$perfor
ref <- list()
for (s in c("a", "b")) {
  cc <- concordance(as.formula(paste("Surv(os_m, died) ~", s)), data = d, reverse = TRUE)
  ref[[paste0("c_", s)]] <- list(c = unname(cc$concordance), var = unname(cc$var))
}
fa <- coxph(Surv(os_m, died) ~ a, data = d, init = 1, iter.max = 0)
fb <- coxph(Surv(os_m, died) ~ b, data = d, init = 1, iter.max = 0)
both <- concordance(fa, fb)
v <- vcov(both)
ref$c_pair <- list(c = unname(coef(both)), cov = v[1, 2],
                   diff_var = v[1, 1] + v[2, 2] - 2 * v[1, 2])
q <- quantile(d$b, c(1, 2) / 3, type = 7)
d$g <- cut(d$b, c(-Inf, q, Inf), labels = c("low", "mid", "high"))
fit <- survfit(Surv(os_m, died) ~ g, data = d, conf.type = "log-log")
s <- summary(fit, times = c(12, 36, 60), extend = TRUE)
tab <- summary(fit)$table
for (k in 1:3) {
  lv <- levels(d$g)[k]
  ref[[paste0("km_", lv)]] <- list(
    n = unname(tab[k, "records"]), events = unname(tab[k, "events"]),
    surv = unname(s$surv[s$strata == names(fit$strata)[k]]),
    lower = unname(s$lower[s$strata == names(fit$strata)[k]]),
    upper = unname(s$upper[s$strata == names(fit$strata)[k]]))
}
ref$tertile_cuts <- unname(q)
sd <- survdiff(Surv(os_m, died) ~ g, data = d)
ref$logrank <- list(chisq = unname(sd$chisq),
                    p = pchisq(sd$chisq, length(sd$n) - 1, lower.tail = FALSE))
cx <- coxph(Surv(os_m, died) ~ g, data = d, ties = "efron")
ci <- summary(cx)$conf.int
ref$cox <- list(hr = unname(ci[, 1]), lower = unname(ci[, 3]), upper = unname(ci[, 4]))
to_json <- function(x) {
  enc <- function(v) {
    if (is.list(v)) {
      return(paste0("{", paste0('"', names(v), '": ', vapply(v, enc, ""), collapse = ", "), "}"))
    }
    txt <- ifelse(is.na(v), "null", formatC(v, digits = 17, format = "g"))
    if (length(v) == 1) txt else paste0("[", paste(txt, collapse = ", "), "]")
  }
  enc(x)
}
writeLines(to_json(ref), args[2])
