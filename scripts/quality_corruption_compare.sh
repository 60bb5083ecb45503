#!/usr/bin/env bash
# Quality predictors trained with the published corruption semantics (the default since issue 14) and with the
# earlier ones (--quality_corruption_registry legacy --quality_grad_clip 0), on the same snapshots of one supervised
# run, each evaluated on both fixed validation sets (every validation slice once corrupted with each registry's
# semantics, once with a snapshot's output; seed 1337): MAE and Spearman of the predicted mean Dice.
# The shipped CPU predictor (bundles/qgssl_acdc/models/quality_predictor.pt: legacy semantics, trained on the snapshots
# of an earlier supervised run) is evaluated on both sets too. TRAIN_LEGACY=0 skips training the legacy predictor
# (the cross evaluations of the predictors that exist still run).
# Usage: [TRAIN_LEGACY=0] scripts/quality_corruption_compare.sh DATASET_DIR OUT_DIR
#   OUT/published, OUT/legacy: scripts/qgssl_acdc_table.sh outputs (snapshots shared through a link)
#   OUT/cross/<predictor>_on_<validation set>/quality_metrics.json, OUT/compare.json (the table)
# Steps whose outputs exist are skipped, so the script can be re-run after an interruption.
set -euo pipefail
DATASET_DIR=${1:?dataset dir}; OUT=${2:?output dir}
HERE=$(cd "$(dirname "$0")" && pwd); BUNDLE=$(cd "$HERE/../bundles/qgssl_acdc" && pwd); C="$BUNDLE/configs"
LEGACY='--quality_corruption_registry legacy --quality_grad_clip 0'
mkdir -p "$OUT/legacy"
"$HERE/qgssl_acdc_table.sh" "$DATASET_DIR" "$OUT/published" 1 predictor
[ -e "$OUT/legacy/snapshots" ] || ln -s "$OUT/published/snapshots" "$OUT/legacy/snapshots"
[ "${TRAIN_LEGACY:-1}" = 0 ] || QUALITY_ARGS=$LEGACY "$HERE/qgssl_acdc_table.sh" "$DATASET_DIR" "$OUT/legacy" 1 predictor
declare -A CKPT=([published]="$OUT/published/quality/quality_predictor.pt" [legacy]="$OUT/legacy/quality/quality_predictor.pt"
                 [shipped]="$BUNDLE/models/quality_predictor.pt")
mkdir -p "$OUT/cross"
for predictor in published legacy shipped; do
  [ -f "${CKPT[$predictor]}" ] || continue
  for valset in published legacy; do
    dir="$OUT/cross/${predictor}_on_${valset}"
    [ -f "$dir/quality_metrics.json" ] && continue
    echo "[cross] $predictor predictor on the $valset validation set $(date +%H:%M:%S)"
    python -m monai.bundle run evaluating_quality --config_file "['$C/train.json','$C/train_cpu.json','$C/train_quality.json']" \
      --bundle_root "$BUNDLE" --dataset_dir "$DATASET_DIR" --quality_output_dir "$dir" \
      --quality_snapshot_glob "$OUT/published/snapshots/snapshot_*.pt" \
      --quality_ckpt "${CKPT[$predictor]}" --quality_corruption_registry "$valset" \
      > "$dir.log" 2>&1
  done
done
python - "$OUT" <<'PY'
import json, sys
from pathlib import Path
out = Path(sys.argv[1])
table = {}
for d in sorted((out / "cross").iterdir()):
    if (d / "quality_metrics.json").is_file():
        table[d.name] = json.loads((d / "quality_metrics.json").read_text())
for name in ("published", "legacy"):
    secs = out / name / "quality" / "train_seconds.txt"
    table[f"{name}_train_seconds"] = int(secs.read_text()) if secs.is_file() else None
(out / "compare.json").write_text(json.dumps(table, indent=2) + "\n")
for k, v in table.items():
    if isinstance(v, dict):
        print(k, "  ".join(f"{g}: MAE {v[g]['mae']:.3f} Spearman {v[g]['spearman']:.3f}" for g in ("all", "synthetic", "real")))
    else:
        print(k, v)
PY
