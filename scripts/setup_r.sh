#!/usr/bin/env bash
# Debian's R 4.2 with survival 3.5 and pROC 1.18, for the reference tests that run the
# pages' exported R scripts (44 MB; about 10 s to install once downloaded). Does nothing
# when R and both packages are there. Exit status 2 when apt-get is not available.
set -euo pipefail
if Rscript -e 'suppressPackageStartupMessages({library(survival); library(pROC)})' >/dev/null 2>&1; then
  exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "setup: apt-get not available: install R with the survival and pROC packages yourself" >&2
  exit 2
fi
echo "setup: installing Debian's r-base-core, r-cran-survival, r-cran-proc (R reference tests)" >&2
if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq >/dev/null
$SUDO apt-get install -y -qq --no-install-recommends r-base-core r-cran-survival r-cran-proc >/dev/null
