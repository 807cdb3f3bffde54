// Memory for the weights the kernels stream on every token.
//
// Decode reads every weight once per token, at the memory bandwidth limit. With 4 KB pages
// that stream takes a TLB miss (a two-level page walk in a virtual machine) every 4 KB, and
// the hardware prefetchers stop at each page boundary; on Linux, 2 MB transparent huge pages
// (madvise mode is enough) remove both. Measured on the 2-core EPYC VM: a GEMV over 300 MB
// of f32 weights streams ~25% faster from huge pages than from 4 KB pages.
// Blocks are 64-byte aligned.
#include "ck_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#if defined(__linux__)
#include <sys/mman.h>
#include <unistd.h>
#endif

#define CK_HUGE (2u << 20)

#if defined(__linux__) && defined(MADV_HUGEPAGE)
// Weight blocks are carved out of large huge-page regions (an allocation per matrix rounded
// up to 2 MB would waste most of it on the small projections). Memory is only resident once
// touched, so a region's unused tail costs at most the huge page it ends in. A region is
// unmapped when its last block is freed.

#define CK_REGION (64u << 20)
#define CK_HEADER 64 // before each block: its region

typedef struct region {
    uint8_t *base;
    size_t size, used;
    int64_t live;
} region;

static pthread_mutex_t regions_lock = PTHREAD_MUTEX_INITIALIZER;
static region *current_region;

static region *region_map(size_t size) {
    region *r = malloc(sizeof(region));
    if (!r) return NULL;
    uint8_t *raw = mmap(NULL, size + CK_HUGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (raw == MAP_FAILED) {
        free(r);
        return NULL;
    }
    // Keep exactly [aligned, aligned + size): 2 MB aligned, so whole huge pages fit.
    uint8_t *aligned = (uint8_t *)ck__round_up((size_t)raw, CK_HUGE);
    if (aligned > raw) munmap(raw, (size_t)(aligned - raw));
    if (raw + size + CK_HUGE > aligned + size) munmap(aligned + size, (size_t)(raw + size + CK_HUGE - (aligned + size)));
    madvise(aligned, size, MADV_HUGEPAGE); // a hint: without THP the pages are ordinary ones
    *r = (region){ aligned, size, 0, 0 };
    return r;
}

void *ck_weights_alloc(size_t bytes) {
    if (bytes == 0) return NULL;
    const size_t need = CK_HEADER + ck__round_up(bytes, 64);
    pthread_mutex_lock(&regions_lock);
    if (!current_region || current_region->used + need > current_region->size) {
        region *fresh = region_map(need > CK_REGION ? ck__round_up(need, CK_HUGE) : CK_REGION);
        if (!fresh) {
            pthread_mutex_unlock(&regions_lock);
            return NULL;
        }
        if (current_region && current_region->live == 0) {
            munmap(current_region->base, current_region->size);
            free(current_region);
        }
        current_region = fresh;
    }
    uint8_t *block = current_region->base + current_region->used;
    current_region->used += need;
    current_region->live++;
    *(region **)block = current_region;
    pthread_mutex_unlock(&regions_lock);
    return block + CK_HEADER;
}

void ck_weights_free(void *p, size_t bytes) {
    (void)bytes;
    if (!p) return;
    pthread_mutex_lock(&regions_lock);
    region *r = *(region **)((uint8_t *)p - CK_HEADER);
    if (--r->live == 0) {
        if (r != current_region) {
            munmap(r->base, r->size);
            free(r);
        } else {
            r->used = 0; // empty: start the current region over
        }
    }
    pthread_mutex_unlock(&regions_lock);
}
#else
void *ck_weights_alloc(size_t bytes) {
    void *p = NULL;
    return bytes && posix_memalign(&p, 64, bytes) == 0 ? p : NULL;
}

void ck_weights_free(void *p, size_t bytes) {
    (void)bytes;
    free(p);
}
#endif

void *ck_weights_copy(const void *src, size_t bytes) {
    void *dst = ck_weights_alloc(bytes);
    if (dst) memcpy(dst, src, bytes);
    return dst;
}

#if defined(__linux__)
/// 1 when [begin, end) lies inside one mapping of a file that is private and not writable
/// (its pages can only ever hold the file's bytes), from /proc/self/maps.
static int read_only_file_mapping(size_t begin, size_t end) {
    FILE *maps = fopen("/proc/self/maps", "r");
    if (!maps) return 0;
    char line[512];
    int ok = 0;
    while (fgets(line, sizeof line, maps)) {
        unsigned long lo, hi, inode;
        char perms[8];
        if (sscanf(line, "%lx-%lx %7s %*s %*s %lu", &lo, &hi, perms, &inode) != 4) continue;
        if (begin >= lo && end <= hi) {
            ok = inode != 0 && perms[0] == 'r' && perms[1] == '-' && perms[3] == 'p';
            break;
        }
    }
    fclose(maps);
    return ok;
}
#endif

void ck_release_mapped_pages(const void *src, size_t bytes) {
#if defined(__linux__)
    const size_t page = (size_t)sysconf(_SC_PAGESIZE);
    const size_t begin = ck__round_up((size_t)src, page), end = ((size_t)src + bytes) / page * page;
    if (end > begin && read_only_file_mapping(begin, end)) madvise((void *)begin, end - begin, MADV_DONTNEED);
#else
    (void)src;
    (void)bytes;
#endif
}
