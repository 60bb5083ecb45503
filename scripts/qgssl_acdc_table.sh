#!/usr/bin/env bash
# The qgssl_acdc pipeline on real ACDC at the CPU setting (configs/train_cpu.json), in order:
#   1. snapshots: a supervised run on the labeled slices, one model-only checkpoint per 150 iterations
#      (training_snapshots) -> OUT/snapshots/snapshot_model_epoch=*.pt
#   2. the quality predictor (training_quality) -> OUT/quality/quality_predictor.pt (lowest validation MAE),
#      quality_metrics.json, quality_cases.csv, quality_scatter.png
#   3. the semi-supervised runs with that predictor, each evaluated with evaluate.json on val.list ->
#      OUT/<name>/eval/metrics.json. RUN_NAME: qar, plqw (QG-SSL as published: L_sup + λ(t)·X, eval-mode EMA teacher),
#      mt_qar, mt_plqw (Mean Teacher + X), mt_plqw_metassl (PL-QW × MetaSSL), mt (Mean Teacher, softmax MSE);
#      "predictor" alone stops after step 2.
# QUALITY_ARGS (environment) is passed to both predictor steps, e.g. QUALITY_ARGS='--quality_corruption_registry
# legacy --quality_grad_clip 0' for the corruption semantics before issue 14.
# Usage: scripts/qgssl_acdc_table.sh DATASET_DIR OUT_DIR [PARALLEL_JOBS] [RUN_NAME ...]
# Steps whose outputs exist are skipped, so the script can be re-run after an interruption.
set -euo pipefail
DATASET_DIR=${1:?dataset dir}; OUT=${2:?output dir}; JOBS=${3:-2}; shift $(( $# < 3 ? $# : 3 ))
BUNDLE=$(cd "$(dirname "$0")/../bundles/qgssl_acdc" && pwd)
C="$BUNDLE/configs"
TRAIN="'$C/train.json','$C/train_cpu.json'"
mkdir -p "$OUT"
if [ ! -f "$OUT/snapshots/snapshot_model_epoch=10.pt" ]; then
  echo "[snapshots] started $(date +%H:%M:%S); progress: tail -f $OUT/snapshots.log"
  python -m monai.bundle run training_snapshots --config_file "[$TRAIN,'$C/train_snapshots.json']" \
    --bundle_root "$BUNDLE" --dataset_dir "$DATASET_DIR" --output_dir "$OUT/snapshots" > "$OUT/snapshots.log" 2>&1
fi
if [ ! -f "$OUT/quality/quality_metrics.json" ]; then
  echo "[quality] started $(date +%H:%M:%S); progress: tail -f $OUT/quality.log"
  start=$(date +%s)
  python -m monai.bundle run training_quality --config_file "[$TRAIN,'$C/train_quality.json']" \
    --bundle_root "$BUNDLE" --dataset_dir "$DATASET_DIR" --quality_output_dir "$OUT/quality" \
    --quality_snapshot_glob "$OUT/snapshots/snapshot_*.pt" ${QUALITY_ARGS:-} > "$OUT/quality.log" 2>&1
  echo "$(( $(date +%s) - start ))" > "$OUT/quality/train_seconds.txt"
  # the report of the best checkpoint (the one written at the end of training is the last epoch's)
  python -m monai.bundle run evaluating_quality --config_file "[$TRAIN,'$C/train_quality.json']" \
    --bundle_root "$BUNDLE" --dataset_dir "$DATASET_DIR" --quality_output_dir "$OUT/quality" \
    --quality_snapshot_glob "$OUT/snapshots/snapshot_*.pt" --quality_ckpt "$OUT/quality/quality_predictor.pt" \
    ${QUALITY_ARGS:-} > "$OUT/quality.eval.log" 2>&1
fi
[ "${1:-}" = predictor ] && [ $# -eq 1 ] && exit 0  # RUN_NAME "predictor": steps 1-2 only
declare -A ARGS=(
  [mt]='--ssl_loss @ssl_losses#softmax_mse'
  [qar]='--ssl_loss @ssl_losses#qar'
  [plqw]='--ssl_loss @ssl_losses#plqw'
  [mt_qar]='--ssl_loss @ssl_losses#mt_qar'
  [mt_plqw]='--ssl_loss @ssl_losses#mt_plqw'
  [mt_plqw_metassl]='--ssl_loss @ssl_losses#plqw_metassl'
)
RUNS=("$@"); [ ${#RUNS[@]} -gt 0 ] || RUNS=(qar plqw mt_qar mt_plqw mt_plqw_metassl)
one() {
  name=$1; dir="$OUT/$name"
  [ -f "$dir/eval/metrics.json" ] && { echo "[$name] done already"; return; }
  start=$(date +%s)
  echo "[$name] training started $(date +%H:%M:%S); progress: tail -f $OUT/$name.log"
  # shellcheck disable=SC2086
  python -m monai.bundle run training --config_file "[$TRAIN]" --bundle_root "$BUNDLE" --dataset_dir "$DATASET_DIR" \
    --output_dir "$dir" --quality_ckpt "$OUT/quality/quality_predictor.pt" $2 > "$OUT/$name.log" 2>&1
  echo "$(( $(date +%s) - start ))" > "$dir/train_seconds.txt"
  python -m monai.bundle run evaluating --config_file "[$TRAIN,'$C/evaluate.json']" --bundle_root "$BUNDLE" \
    --dataset_dir "$DATASET_DIR" --output_dir "$dir/eval" --ckpt_path "$dir/model.pt" > "$OUT/$name.eval.log" 2>&1
  echo "[$name] $(python -c "import json;m=json.load(open('$dir/eval/metrics.json'));print('mean_dice %.4f' % m['mean_dice'])") train $(cat "$dir/train_seconds.txt") s"
}
export -f one; export OUT DATASET_DIR BUNDLE TRAIN C; export OMP_NUM_THREADS=$(( $(nproc) / JOBS > 0 ? $(nproc) / JOBS : 1 ))
for n in "${RUNS[@]}"; do
  [ -n "${ARGS[$n]+x}" ] || { echo "unknown run $n (known: ${!ARGS[*]})" >&2; exit 2; }
  printf '%s\t%s\n' "$n" "${ARGS[$n]}"
done > "$OUT/runs.tsv"
run_line() { one "$(cut -f1 <<<"$1")" "$(cut -f2 <<<"$1")"; }
export -f run_line
tr '\n' '\0' < "$OUT/runs.tsv" | xargs -0 -P "$JOBS" -I{} bash -c 'run_line "$@"' _ {}
