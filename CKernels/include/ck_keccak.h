// Keccak-f[1600] and Ethereum's keccak256 (original Keccak padding 0x01, not SHA3's 0x06).
#ifndef CK_KECCAK_H
#define CK_KECCAK_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/// The 24-round Keccak-f[1600] permutation on a 25-lane state.
void ck_keccak_f1600(uint64_t state[25]);
/// keccak256(data[0..<len]) into out[32].
void ck_keccak256(const uint8_t *data, size_t len, uint8_t out[32]);

#ifdef __cplusplus
}
#endif

#endif
