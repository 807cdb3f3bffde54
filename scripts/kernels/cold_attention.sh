#!/usr/bin/env bash
# Times single-token attention of 16 sequences on a warm KV cache and on one that other data has
# pushed out of the caches (as a decode step's weights do), in one run: ./cold_attention.sh
exec "$(dirname "$0")/run.sh" cold_attention
