#!/usr/bin/env bash
# Train and evaluate the metassl_acdc validation table at the CPU setting (configs/train_cpu.json):
# supervised-only, MT, MT + MetaSSL, CPS, CPS + MetaSSL; optional investigation runs: MT + MetaSSL with the exp
# weight form (mt_metassl_exp) and with a 10x smaller consistency weight (mt_metassl_lambda001,
# cps_metassl_lambda001), and MT with only the labeled MetaSSL term (mt_metassl_labeled_only); the frameworks of
# issue 14 with their plain loss and with MetaSSL: cct, cct_metassl, rdrop, rdrop_metassl, fixmatch, fixmatch_metassl.
# Since issue 14 every framework runs with its paper preset (metassl_monai.presets); cps_metassl_preset is
# cps_metassl under that default (CPS exp weights), named apart from the cps_metassl of earlier tables (ratio weights).
# Rerunning the same command continues runs that were killed (--resume true) and skips evaluated ones.
# Usage: scripts/acdc_validation_table.sh DATASET_DIR OUT_DIR [PARALLEL_JOBS] [RUN_NAME ...]
# Each run: OUT_DIR/<name>/ (TensorBoard, checkpoints, best model.pt), OUT_DIR/<name>.log,
# then evaluate.json on val.list -> OUT_DIR/<name>/eval/metrics.json. Runs already evaluated are skipped.
set -euo pipefail
DATASET_DIR=${1:?dataset dir}; OUT=${2:?output dir}; JOBS=${3:-2}; shift $(( $# < 3 ? $# : 3 ))
BUNDLE=$(cd "$(dirname "$0")/../bundles/metassl_acdc" && pwd)
declare -A ARGS=(
  [supervised]='--framework @frameworks#supervised --ssl_loss @ssl_losses#none'
  [mt]='--framework @frameworks#mean_teacher --ssl_loss @ssl_losses#softmax_mse'
  [mt_metassl]='--framework @frameworks#mean_teacher --ssl_loss @ssl_losses#metassl'
  [mt_metassl_exp]='--framework @frameworks#mean_teacher --ssl_loss @ssl_losses#metassl_exp'
  [mt_metassl_labeled_only]='--framework @frameworks#mean_teacher --ssl_loss @ssl_losses#metassl_labeled_only'
  [mt_metassl_lambda001]='--framework @frameworks#mean_teacher --ssl_loss @ssl_losses#metassl --consistency 0.01'
  [cps]='--framework @frameworks#cps --ssl_loss @ssl_losses#pseudo_label_ce'
  [cps_metassl]='--framework @frameworks#cps --ssl_loss @ssl_losses#metassl'
  [cps_metassl_preset]='--framework @frameworks#cps --ssl_loss @ssl_losses#metassl'
  [cps_metassl_lambda001]='--framework @frameworks#cps --ssl_loss @ssl_losses#metassl --consistency 0.01'
  [cct]='--framework @frameworks#cct --ssl_loss @ssl_losses#pseudo_label_ce'
  [cct_metassl]='--framework @frameworks#cct --ssl_loss @ssl_losses#metassl'
  [rdrop]='--framework @frameworks#rdrop --ssl_loss @ssl_losses#softmax_mse'
  [rdrop_metassl]='--framework @frameworks#rdrop --ssl_loss @ssl_losses#metassl'
  [fixmatch]='--framework @frameworks#fixmatch --ssl_loss @ssl_losses#fixmatch'
  [fixmatch_metassl]='--framework @frameworks#fixmatch --ssl_loss @ssl_losses#metassl'
)
RUNS=("$@"); [ ${#RUNS[@]} -gt 0 ] || RUNS=(supervised mt_metassl mt cps cps_metassl)
mkdir -p "$OUT"
one() {
  name=$1; dir="$OUT/$name"
  [ -f "$dir/eval/metrics.json" ] && { echo "[$name] done already"; return; }
  start=$(date +%s); resume=()
  # a run killed before its end (a session that stopped) continues from its last checkpoint; its wall time is the sum
  if [ ! -f "$dir/checkpoint_final.pt" ] && compgen -G "$dir/checkpoint_*.pt" > /dev/null; then resume=(--resume true); fi
  if [ ! -f "$dir/checkpoint_final.pt" ]; then
    echo "[$name] training started $(date +%H:%M:%S) ${resume[*]}; progress: tail -f $OUT/$name.log"
    # shellcheck disable=SC2086
    python -m monai.bundle run training --config_file "['$BUNDLE/configs/train.json','$BUNDLE/configs/train_cpu.json']" \
      --bundle_root "$BUNDLE" --dataset_dir "$DATASET_DIR" --output_dir "$dir" ${ARGS[$name]} "${resume[@]}" \
      >> "$OUT/$name.log" 2>&1
    echo "$(( $(date +%s) - start + $(cat "$dir/train_seconds.txt" 2>/dev/null || echo 0) ))" > "$dir/train_seconds.txt"
  fi
  if [ ! -f "$dir/checkpoint_final.pt" ]; then  # killed: evaluating its best model so far would pass for a result
    echo "[$name] training stopped before its end: repeat the command to continue it"; return
  fi
  network=(); [[ $name == cct* ]] && network=(--network_def @two_decoder_network_def)  # model.pt is decoder 1
  python -m monai.bundle run evaluating "${network[@]}" \
    --config_file "['$BUNDLE/configs/train.json','$BUNDLE/configs/train_cpu.json','$BUNDLE/configs/evaluate.json']" \
    --bundle_root "$BUNDLE" --dataset_dir "$DATASET_DIR" --output_dir "$dir/eval" --ckpt_path "$dir/model.pt" \
    > "$OUT/$name.eval.log" 2>&1
  echo "[$name] $(python -c "import json;m=json.load(open('$dir/eval/metrics.json'));print('mean_dice %.4f' % m['mean_dice'])") train $(cat "$dir/train_seconds.txt") s"
}
export -f one; export OUT DATASET_DIR BUNDLE; export OMP_NUM_THREADS=$(( $(nproc) / JOBS > 0 ? $(nproc) / JOBS : 1 ))
for n in "${RUNS[@]}"; do
  [ -n "${ARGS[$n]+x}" ] || { echo "unknown run $n (known: ${!ARGS[*]})" >&2; exit 2; }
  printf '%s\t%s\n' "$n" "${ARGS[$n]}"
done > "$OUT/runs.tsv"
# bash associative arrays do not cross into xargs' children: pass the arguments through runs.tsv
run_line() { name=$(cut -f1 <<<"$1"); declare -A ARGS=(["$name"]=$(cut -f2 <<<"$1")); one "$name"; }
export -f run_line
tr '\n' '\0' < "$OUT/runs.tsv" | xargs -0 -P "$JOBS" -I{} bash -c 'run_line "$@"' _ {}
