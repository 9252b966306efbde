// Meet-in-the-middle search for the two pairwise masks of one hospital's SecAgg+ reply among three,
// as Flower 1.42's pseudo_rand_gen draws them: the mask of a pairwise key is NumPy's legacy
// RandomState(fold) (a Mersenne Twister, init_genrand), fold = the XOR of the key's 4-byte words.
// The key is 44 bytes of base64 text, so every byte is below 0x80 and a fold takes at most 2^28
// values: `spread` maps a 28-bit code onto them. Driven by bench/secagg_mask_search.py.
//
// Input (argv): c = masked word 0 minus the self mask minus the public weight factor (so
// s1 P1[0] + s2 P2[0] = c exactly), z1 = word 1 minus the self mask, s1 s2 = the masks' signs
// (+1 or -1), optionally the code bits (default 28). Output: one line "fold1 fold2" per pair of
// folds whose masks explain word 0 exactly and leave word 1 inside the quantization range [0, 2^22];
// timings on stderr.
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static inline uint32_t temper(uint32_t y) {
    y ^= y >> 11;
    y ^= (y << 7) & 0x9d2c5680u;
    y ^= (y << 15) & 0xefc60000u;
    return y ^ (y >> 18);
}

// a 28-bit code -> a fold whose four bytes each have their top bit clear
static inline uint32_t spread(uint32_t j) {
    return (j & 0x7f) | ((j >> 7 & 0x7f) << 8) | ((j >> 14 & 0x7f) << 16) | ((j >> 21 & 0x7f) << 24);
}

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec / 1e9;
}

#define LANES 16

int main(int argc, char **argv) {
    if (argc < 5) {
        fprintf(stderr, "usage: search C Z1 S1 S2 [BITS]\n");
        return 2;
    }
    uint32_t c = strtoul(argv[1], 0, 10), z1 = strtoul(argv[2], 0, 10);
    int s1 = atoi(argv[3]), s2 = atoi(argv[4]);
    int bits = argc > 5 ? atoi(argv[5]) : 28;
    uint64_t n = 1ull << bits;
    double t0 = now();
    // the first two outputs of RandomState(spread(j)) for every code j: (output 0 << 32 | j), output 1
    uint64_t *table = malloc(8 * n);
    uint32_t *second = malloc(4 * n);
    for (uint64_t b = 0; b < n; b += LANES) {
        uint32_t k[LANES], k0[LANES], k1[LANES], k2[LANES], k397[LANES];
        for (int l = 0; l < LANES; l++) k[l] = k0[l] = spread(b + l);
        for (uint32_t pos = 1; pos <= 398; pos++) {
            for (int l = 0; l < LANES; l++) k[l] = 1812433253u * (k[l] ^ (k[l] >> 30)) + pos;
            if (pos == 1) memcpy(k1, k, sizeof k);
            if (pos == 2) memcpy(k2, k, sizeof k);
            if (pos == 397) memcpy(k397, k, sizeof k);
        }
        for (int l = 0; l < LANES; l++) {
            uint32_t y = (k0[l] & 0x80000000u) | (k1[l] & 0x7fffffffu);
            uint32_t v0 = temper(k397[l] ^ (y >> 1) ^ ((k1[l] & 1) ? 0x9908b0dfu : 0));
            y = (k1[l] & 0x80000000u) | (k2[l] & 0x7fffffffu);
            uint32_t v1 = temper(k[l] ^ (y >> 1) ^ ((k2[l] & 1) ? 0x9908b0dfu : 0));
            table[b + l] = ((uint64_t)v0 << 32) | (b + l);
            second[b + l] = v1;
        }
    }
    double t1 = now();
    fprintf(stderr, "table %.1f\n", t1 - t0);
    // radix sort on output 0 (two 16-bit passes), then an index on its top 24 bits
    uint64_t *scratch = malloc(8 * n);
    static uint64_t count[65537];
    for (int pass = 0; pass < 2; pass++) {
        int shift = 32 + 16 * pass;
        memset(count, 0, sizeof count);
        for (uint64_t i = 0; i < n; i++) count[((table[i] >> shift) & 0xffff) + 1]++;
        for (int d = 0; d < 65536; d++) count[d + 1] += count[d];
        for (uint64_t i = 0; i < n; i++) scratch[count[(table[i] >> shift) & 0xffff]++] = table[i];
        uint64_t *swap = table;
        table = scratch;
        scratch = swap;
    }
    free(scratch);
    uint32_t *bucket = calloc((1u << 24) + 1, 4);
    for (uint64_t i = 0; i < n; i++) bucket[(table[i] >> 40) + 1]++;
    for (uint32_t d = 0; d < (1u << 24); d++) bucket[d + 1] += bucket[d];
    double t2 = now();
    fprintf(stderr, "sort %.1f\n", t2 - t1);
    // for each first mask P1: the second P2 with s1 P1 + s2 P2 = c, i.e. P2 = s2 (c - s1 P1)
    uint64_t word0 = 0, word1 = 0;
    for (uint64_t i = 0; i < n; i++) {
        uint32_t p1 = table[i] >> 32, j1 = (uint32_t)table[i];
        uint32_t rest = c - (uint32_t)(s1 * (int64_t)p1);
        uint32_t target = (s2 == 1) ? rest : (uint32_t)(0u - rest);
        for (uint32_t q = bucket[target >> 8]; q < bucket[(target >> 8) + 1]; q++) {
            if ((uint32_t)(table[q] >> 32) != target) continue;
            word0++;
            uint32_t j2 = (uint32_t)table[q];
            uint32_t x1 = z1 - (uint32_t)(s1 * (int64_t)second[j1]) - (uint32_t)(s2 * (int64_t)second[j2]);
            if (x1 <= (1u << 22)) {
                word1++;
                printf("%u %u\n", spread(j1), spread(j2));
            }
        }
    }
    double t3 = now();
    fprintf(stderr, "search %.1f\nmatch_word0 %llu\nmatch_word1 %llu\n", t3 - t2, (unsigned long long)word0,
            (unsigned long long)word1);
    return 0;
}
