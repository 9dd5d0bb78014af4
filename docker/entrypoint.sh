#!/bin/sh
# Starts TorchServe in the foreground (PID 1 keeps it), or runs another command:
#   serve (default)  torchserve --foreground with docker/config.properties
#   anything else    exec'd as given, e.g. `docker run IMAGE bash`
#
# Environment:
#   REALCHECK_DISABLE_TOKEN_AUTH=true  start without token authorisation (default: on)
#   REALCHECK_NUMBER_OF_GPU=N          GPUs TorchServe may use (default: the config's 0)
#   REALCHECK_MODEL_STORE              where the .mar archives are (default /home/model-server/model-store)
#   REALCHECK_CONFIG                   config.properties to start from
#   REALCHECK_RUN_DIR                  writable working directory: key_file.json, logs
set -eu

home_dir=${REALCHECK_HOME:-/home/model-server}
config=${REALCHECK_CONFIG:-$home_dir/config.properties}
model_store=${REALCHECK_MODEL_STORE:-$home_dir/model-store}
run_dir=${REALCHECK_RUN_DIR:-$home_dir/run}

if [ "$#" -gt 0 ] && [ "$1" != "serve" ]; then
    exec "$@"
fi

say() { echo "entrypoint: $*" >&2; }

mkdir -p "$run_dir/logs"
effective="$run_dir/config.properties"
cp "$config" "$effective"

gpus=${REALCHECK_NUMBER_OF_GPU:-}
if [ -n "$gpus" ]; then
    case $gpus in
        *[!0-9]*) say "REALCHECK_NUMBER_OF_GPU must be a whole number, got '$gpus'"; exit 64 ;;
    esac
    # java.util.Properties keeps the last value of a repeated key.
    printf '\nnumber_of_gpu=%s\n' "$gpus" >> "$effective"
fi

found=no
for archive in "$model_store"/*.mar; do
    [ -e "$archive" ] && found=yes && break
done
if [ "$found" = no ]; then
    say "no .mar archives in $model_store: build the image with model_store/*.mar present, or mount them there"
    exit 66
fi

set -- torchserve --start --foreground --ncs --ts-config "$effective" --model-store "$model_store"
case $(printf '%s' "${REALCHECK_DISABLE_TOKEN_AUTH:-false}" | tr '[:upper:]' '[:lower:]') in
    true | 1 | yes)
        say "token authorisation is OFF (REALCHECK_DISABLE_TOKEN_AUTH): anyone who reaches the ports can use them"
        set -- "$@" --disable-token-auth
        ;;
    false | 0 | no | "") ;;
    *) say "REALCHECK_DISABLE_TOKEN_AUTH must be true or false, got '$REALCHECK_DISABLE_TOKEN_AUTH'"; exit 64 ;;
esac

# TorchServe writes key_file.json into its working directory.
cd "$run_dir"
export LOG_LOCATION="$run_dir/logs" METRICS_LOCATION="$run_dir/logs"
exec "$@"
