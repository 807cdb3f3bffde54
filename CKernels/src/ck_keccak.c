// Keccak-f[1600] (FIPS 202's permutation) and keccak256 as Ethereum uses it: rate 136 bytes,
// the original Keccak padding (0x01 ... 0x80), not SHA3-256's 0x06.
#include "ck_keccak.h"

#include <string.h>

static const uint64_t round_constants[24] = {
    0x0000000000000001ULL, 0x0000000000008082ULL, 0x800000000000808aULL, 0x8000000080008000ULL,
    0x000000000000808bULL, 0x0000000080000001ULL, 0x8000000080008081ULL, 0x8000000000008009ULL,
    0x000000000000008aULL, 0x0000000000000088ULL, 0x0000000080008009ULL, 0x000000008000000aULL,
    0x000000008000808bULL, 0x800000000000008bULL, 0x8000000000008089ULL, 0x8000000000008003ULL,
    0x8000000000008002ULL, 0x8000000000000080ULL, 0x000000000000800aULL, 0x800000008000000aULL,
    0x8000000080008081ULL, 0x8000000000008080ULL, 0x0000000080000001ULL, 0x8000000080008008ULL,
};

// Rotation offsets and the lane permutation of rho and pi, walked along pi's cycle.
static const int rho_offsets[24] = { 1, 3, 6, 10, 15, 21, 28, 36, 45, 55, 2, 14,
                                     27, 41, 56, 8, 25, 43, 62, 18, 39, 61, 20, 44 };
static const int pi_lanes[24] = { 10, 7, 11, 17, 18, 3, 5, 16, 8, 21, 24, 4,
                                  15, 23, 19, 13, 12, 2, 20, 14, 22, 9, 6, 1 };

static inline uint64_t rotl64(uint64_t x, int n) { return (x << n) | (x >> (64 - n)); }

void ck_keccak_f1600(uint64_t a[25]) {
    for (int round = 0; round < 24; round++) {
        // theta: each lane absorbs the parities of two neighbouring columns.
        uint64_t c[5], d;
        for (int x = 0; x < 5; x++) c[x] = a[x] ^ a[x + 5] ^ a[x + 10] ^ a[x + 15] ^ a[x + 20];
        for (int x = 0; x < 5; x++) {
            d = c[(x + 4) % 5] ^ rotl64(c[(x + 1) % 5], 1);
            for (int y = 0; y < 25; y += 5) a[y + x] ^= d;
        }
        // rho and pi: rotate every lane and move it along the permutation cycle.
        uint64_t carried = a[1];
        for (int i = 0; i < 24; i++) {
            const int lane = pi_lanes[i];
            const uint64_t next = a[lane];
            a[lane] = rotl64(carried, rho_offsets[i]);
            carried = next;
        }
        // chi: the only non-linear step, row by row.
        for (int y = 0; y < 25; y += 5) {
            uint64_t row[5];
            for (int x = 0; x < 5; x++) row[x] = a[y + x];
            for (int x = 0; x < 5; x++) a[y + x] = row[x] ^ (~row[(x + 1) % 5] & row[(x + 2) % 5]);
        }
        // iota
        a[0] ^= round_constants[round];
    }
}

static inline uint64_t load_le64(const uint8_t *p) {
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--) v = (v << 8) | p[i];
    return v;
}

void ck_keccak256(const uint8_t *data, size_t len, uint8_t out[32]) {
    enum { RATE = 136 };
    uint64_t state[25] = { 0 };
    while (len >= RATE) {
        for (int i = 0; i < RATE / 8; i++) state[i] ^= load_le64(data + 8 * i);
        ck_keccak_f1600(state);
        data += RATE;
        len -= RATE;
    }
    uint8_t last[RATE];
    memset(last, 0, sizeof last);
    if (len > 0) memcpy(last, data, len);
    last[len] ^= 0x01;
    last[RATE - 1] ^= 0x80;
    for (int i = 0; i < RATE / 8; i++) state[i] ^= load_le64(last + 8 * i);
    ck_keccak_f1600(state);
    for (int i = 0; i < 4; i++) {
        for (int b = 0; b < 8; b++) out[8 * i + b] = (uint8_t)(state[i] >> (8 * b));
    }
}
