// A persistent thread pool. Workers spin briefly between jobs (a decode step issues hundreds
// of small jobs, and waking a sleeping thread costs more than the job), then sleep on a
// condition variable so an idle node uses no CPU. Both waits are bounded in time, not in
// pause instructions (a pause lasts from a few to ~40 ns depending on the CPU): a worker of a
// process that has nothing to run must not hold a core that another process (a second shard
// server on the same machine) is computing on.
#include "ck_internal.h"

#include <sched.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>
#if defined(__x86_64__)
#include <immintrin.h>
#define CK_PAUSE() _mm_pause()
#else
#define CK_PAUSE() ((void)0)
#endif

/// How long an idle worker spins for the next job before it sleeps: longer than the gaps
/// between the jobs of one forward, far shorter than a wait for the network.
#define CK_SPIN_NS 200000
/// How long the caller spins for the workers' last chunks before it yields its core: past it, a
/// worker is likely preempted (more compute threads than cores) and needs the core to finish.
#define CK_WAIT_SPIN_NS 20000
#define CK_SCRATCH_SLOTS 4

struct ck_pool {
    int n_threads;
    pthread_t *threads;
    pthread_mutex_t run_lock; // one job at a time
    pthread_mutex_t op_lock;  // one scratch-using operation at a time
    pthread_mutex_t sleep_lock;
    pthread_cond_t wake;

    atomic_uint_fast64_t generation; // bumped once per job
    atomic_int stop;
    atomic_int park;    // set: idle workers sleep at once instead of spinning

    // The current job, written before `claim` opens it.
    ck_range_fn fn;
    void *ctx;
    int64_t n, chunk;
    atomic_int_fast64_t n_chunks; // read before a claim, so atomic
    // Chunks are claimed here: the job's generation in the high 32 bits and the next chunk in
    // the low 32, so a worker that wakes late cannot take a chunk of another job. The caller
    // waits only for the chunks taken (`done`), never for a worker that took none: a worker
    // the scheduler has not run yet (a busy machine) does not hold the job up.
    atomic_uint_fast64_t claim;
    atomic_int_fast64_t done; // chunks finished in the current job

    void *scratch[CK_SCRATCH_SLOTS];
    size_t scratch_size[CK_SCRATCH_SLOTS];
};

typedef struct { ck_pool *pool; int index; } worker_arg;

static uint64_t monotonic_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/// Takes and runs chunks of job `gen` until none is left (or another job has started).
/// Claims are guided: a claim takes 1/(2·threads) of the chunks still open (at least one), so a
/// job starts with long runs (few claims, long streams for the prefetchers) and ends with single
/// chunks (the threads finish within one chunk of each other). A claimed run is handed to `fn`
/// as one range of whole chunks, so every item sees the chunk alignment it would see alone.
static void run_chunks(ck_pool *pool, uint_fast64_t gen, int thread_index) {
    const uint_fast64_t tag = (gen & 0xffffffffu) << 32;
    const int64_t spread = 2 * (int64_t)pool->n_threads;
    for (;;) {
        uint_fast64_t state = atomic_load(&pool->claim);
        int64_t c, k;
        do {
            if ((state & ~(uint_fast64_t)0xffffffffu) != tag) return;
            c = (int64_t)(state & 0xffffffffu);
            const int64_t open = atomic_load(&pool->n_chunks) - c;
            if (open <= 0) return;
            k = open / spread > 1 ? open / spread : 1;
        } while (!atomic_compare_exchange_weak(&pool->claim, &state, state + (uint_fast64_t)k));
        const int64_t begin = c * pool->chunk;
        const int64_t end = begin + k * pool->chunk < pool->n ? begin + k * pool->chunk : pool->n;
        pool->fn(pool->ctx, begin, end, thread_index);
        atomic_fetch_add(&pool->done, k);
    }
}

static void *worker_main(void *raw) {
    worker_arg arg = *(worker_arg *)raw;
    free(raw);
    ck_pool *pool = arg.pool;
    uint_fast64_t seen = 0;
    for (;;) {
        const uint64_t spin_until = monotonic_ns() + CK_SPIN_NS;
        for (unsigned spins = 1; atomic_load(&pool->generation) == seen && !atomic_load(&pool->stop) && !atomic_load(&pool->park);
             spins++) {
            CK_PAUSE();
            if (spins % 64 == 0 && monotonic_ns() > spin_until) break;
        }
        if (atomic_load(&pool->generation) == seen && !atomic_load(&pool->stop)) {
            pthread_mutex_lock(&pool->sleep_lock);
            while (atomic_load(&pool->generation) == seen && !atomic_load(&pool->stop)) {
                pthread_cond_wait(&pool->wake, &pool->sleep_lock);
            }
            pthread_mutex_unlock(&pool->sleep_lock);
        }
        if (atomic_load(&pool->stop)) return NULL;
        seen = atomic_load(&pool->generation);
        run_chunks(pool, seen, arg.index);
    }
}

ck_pool *ck_pool_create(int n_threads) {
    if (n_threads <= 0) {
        long cpus = sysconf(_SC_NPROCESSORS_ONLN);
        n_threads = cpus > 0 ? (int)cpus : 1;
    }
    ck_pool *pool = calloc(1, sizeof(ck_pool));
    if (!pool) return NULL;
    pool->n_threads = n_threads;
    pthread_mutex_init(&pool->run_lock, NULL);
    pthread_mutex_init(&pool->op_lock, NULL);
    pthread_mutex_init(&pool->sleep_lock, NULL);
    pthread_cond_init(&pool->wake, NULL);
    atomic_init(&pool->generation, 0);
    atomic_init(&pool->stop, 0);
    atomic_init(&pool->claim, 0);
    atomic_init(&pool->n_chunks, 0);
    atomic_init(&pool->done, 0);
    atomic_init(&pool->park, 0);
    pool->threads = calloc((size_t)n_threads, sizeof(pthread_t));
    for (int i = 1; i < n_threads; i++) {
        worker_arg *arg = malloc(sizeof(worker_arg));
        arg->pool = pool;
        arg->index = i;
        if (pthread_create(&pool->threads[i], NULL, worker_main, arg) != 0) {
            free(arg);
            pool->n_threads = i; // run with the workers we have
            break;
        }
    }
    return pool;
}

void ck_pool_destroy(ck_pool *pool) {
    if (!pool) return;
    pthread_mutex_lock(&pool->sleep_lock);
    atomic_store(&pool->stop, 1);
    pthread_cond_broadcast(&pool->wake);
    pthread_mutex_unlock(&pool->sleep_lock);
    for (int i = 1; i < pool->n_threads; i++) pthread_join(pool->threads[i], NULL);
    for (int s = 0; s < CK_SCRATCH_SLOTS; s++) free(pool->scratch[s]);
    free(pool->threads);
    pthread_mutex_destroy(&pool->run_lock);
    pthread_mutex_destroy(&pool->op_lock);
    pthread_mutex_destroy(&pool->sleep_lock);
    pthread_cond_destroy(&pool->wake);
    free(pool);
}

int ck_pool_threads(const ck_pool *pool) { return pool ? pool->n_threads : 1; }

void ck_pool_run(ck_pool *pool, int64_t n, int64_t grain, ck_range_fn fn, void *ctx) {
    // Chunks of the caller's grain; the guided claims (run_chunks) merge them into long runs
    // while much is open. At most 2^31 chunks: the claim word counts them in 32 bits.
    int64_t chunk = grain < 1 ? 1 : grain;
    while (n / chunk >= ((int64_t)1 << 31)) chunk *= 2;
    ck__pool_run_chunked(pool, n, chunk, fn, ctx);
}

void ck__pool_run_chunked(ck_pool *pool, int64_t n, int64_t chunk, ck_range_fn fn, void *ctx) {
    if (n <= 0) return;
    if (chunk < 1) chunk = 1;
    if (!pool || pool->n_threads == 1 || n <= chunk) {
        fn(ctx, 0, n, 0);
        return;
    }
    pthread_mutex_lock(&pool->run_lock);
    // Close the previous job's claims before its fields change: a worker that read them
    // before could otherwise still take a chunk under the old tag.
    const uint_fast64_t gen = atomic_load(&pool->generation) + 1;
    atomic_store(&pool->claim, (gen & 0xffffffffu) << 32 | 0xffffffffu);
    pool->fn = fn;
    pool->ctx = ctx;
    pool->n = n;
    pool->chunk = chunk;
    atomic_store(&pool->n_chunks, (n + chunk - 1) / chunk);
    atomic_store(&pool->done, 0);
    atomic_store(&pool->claim, (gen & 0xffffffffu) << 32);
    atomic_store(&pool->park, 0);
    pthread_mutex_lock(&pool->sleep_lock);
    atomic_store(&pool->generation, gen);
    pthread_cond_broadcast(&pool->wake);
    pthread_mutex_unlock(&pool->sleep_lock);

    run_chunks(pool, gen, 0);
    if (atomic_load(&pool->done) < atomic_load(&pool->n_chunks)) {
        const uint64_t yield_after = monotonic_ns() + CK_WAIT_SPIN_NS;
        int yielding = 0;
        for (unsigned spins = 1; atomic_load(&pool->done) < atomic_load(&pool->n_chunks); spins++) {
            if (yielding) sched_yield();
            else CK_PAUSE();
            if (spins % 64 == 0 && !yielding) yielding = monotonic_ns() > yield_after;
        }
    }
    pthread_mutex_unlock(&pool->run_lock);
}

void ck_pool_park(ck_pool *pool) {
    if (pool) atomic_store(&pool->park, 1);
}

void *ck__pool_scratch(ck_pool *pool, int slot, size_t bytes) {
    if (slot < 0 || slot >= CK_SCRATCH_SLOTS) return NULL;
    if (pool->scratch_size[slot] < bytes) {
        free(pool->scratch[slot]);
        size_t size = bytes + bytes / 2 + 64; // grow geometrically
        if (posix_memalign(&pool->scratch[slot], 64, size) != 0) {
            pool->scratch[slot] = NULL;
            pool->scratch_size[slot] = 0;
            return NULL;
        }
        pool->scratch_size[slot] = size;
    }
    return pool->scratch[slot];
}

void ck__pool_lock_op(ck_pool *pool) { pthread_mutex_lock(&pool->op_lock); }
void ck__pool_unlock_op(ck_pool *pool) { pthread_mutex_unlock(&pool->op_lock); }
