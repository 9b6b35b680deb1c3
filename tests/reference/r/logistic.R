# Reference numbers for crlm.stats.logistic, the logistic / Cox interaction tests and the
# unpaired AUC test, from R's glm (stats), survival and pROC.
#
# Run from the repository root:
#     Rscript tests/reference/r/logistic.R
# Writes tests/reference/data/benefit.csv (a small simulated two-arm data set, fixed seed)
# and tests/reference/data/logistic_r_results.json. The Python tests read only those files.
suppressPackageStartupMessages({
  library(survival)
  library(pROC)
  library(jsonlite)
})
out_dir <- file.path("tests", "reference", "data")

# -- a two-arm data set shaped like the anti-EGFR design: a signature that predicts response
#    and longer PFS in arm 1 (anti-EGFR) and not in arm 0 (chemotherapy alone)
set.seed(20261201)
n <- 240
arm <- rep(c(1L, 0L), times = c(140, 100))
score <- round(runif(n), 4)
right_sided <- rbinom(n, 1, 0.25)
lin <- -0.8 + arm * (3.2 * score - 1.2) + 0.3 * score - 0.7 * right_sided
responder <- rbinom(n, 1, plogis(lin))
rate <- 0.12 * exp(-arm * 1.1 * (score > 0.5) + 0.4 * right_sided)
pfs <- rexp(n, rate)
cens <- runif(n, 6, 40)
pfs_months <- round(pmin(pfs, cens), 2)
pfs_event <- as.integer(pfs <= cens)
sig_high <- as.integer(score >= 0.5)
d <- data.frame(arm, score, sig_high, right_sided, responder, pfs_months, pfs_event)
write.csv(d, file.path(out_dir, "benefit.csv"), row.names = FALSE)

glm_record <- function(fit) {
  s <- summary(fit)$coefficients
  ci <- confint.default(fit)
  list(terms = rownames(s), coef = unname(s[, 1]), se = unname(s[, 2]), z = unname(s[, 3]),
       p = unname(s[, 4]), ci_lower = unname(exp(ci[, 1])), ci_upper = unname(exp(ci[, 2])),
       loglik = as.numeric(logLik(fit)), deviance = fit$deviance,
       null_deviance = fit$null.deviance, aic = fit$aic)
}
ctrl <- glm.control(epsilon = 1e-14, maxit = 100)

res <- list(versions = list(R = R.version.string,
                            survival = as.character(packageVersion("survival")),
                            pROC = as.character(packageVersion("pROC"))))

# aSAH (pROC): poor outcome on three predictors
asah <- read.csv(file.path(out_dir, "asah.csv"))
res$asah <- glm_record(glm(outcome_poor ~ s100b + age + wfns, family = binomial,
                           data = asah, control = ctrl))

# response: signature x arm interaction, likelihood-ratio test
full <- glm(responder ~ sig_high + arm + sig_high:arm, family = binomial, data = d, control = ctrl)
reduced <- glm(responder ~ sig_high + arm, family = binomial, data = d, control = ctrl)
lrt <- anova(reduced, full, test = "LRT")
res$response_full <- glm_record(full)
res$response_reduced <- glm_record(reduced)
res$response_lrt <- list(statistic = lrt$Deviance[2], df = lrt$Df[2], p = lrt[["Pr(>Chi)"]][2])
# within each arm: odds ratio of signature-high, adjusted for sidedness
res$response_arm1 <- glm_record(glm(responder ~ sig_high + right_sided, family = binomial,
                                    data = d[d$arm == 1, ], control = ctrl))

# PFS: signature x arm interaction, Cox (Efron), likelihood-ratio test
cfull <- coxph(Surv(pfs_months, pfs_event) ~ sig_high + arm + sig_high:arm, data = d,
               control = coxph.control(eps = 1e-12, toler.chol = 1e-14, iter.max = 100))
creduced <- coxph(Surv(pfs_months, pfs_event) ~ sig_high + arm, data = d,
                  control = coxph.control(eps = 1e-12, toler.chol = 1e-14, iter.max = 100))
clrt <- anova(creduced, cfull)
cs <- summary(cfull)$coefficients
res$pfs_full <- list(terms = rownames(cs), coef = unname(cs[, 1]), se = unname(cs[, 3]),
                     p = unname(cs[, 5]), loglik = cfull$loglik[2])
res$pfs_lrt <- list(statistic = clrt$Chisq[2], df = clrt$Df[2], p = clrt[["Pr(>|Chi|)"]][2])

# AUC of the score in each arm and the unpaired DeLong test between them
r1 <- roc(d$responder[d$arm == 1], d$score[d$arm == 1], direction = "<", levels = c(0, 1),
          quiet = TRUE)
r0 <- roc(d$responder[d$arm == 0], d$score[d$arm == 0], direction = "<", levels = c(0, 1),
          quiet = TRUE)
tt <- roc.test(r1, r0, method = "delong", paired = FALSE)
res$auc_unpaired <- list(auc_arm1 = as.numeric(auc(r1)), auc_arm0 = as.numeric(auc(r0)),
                         statistic = unname(tt$statistic), p = tt$p.value)

writeLines(toJSON(res, digits = NA, auto_unbox = TRUE),
           file.path(out_dir, "logistic_r_results.json"))
