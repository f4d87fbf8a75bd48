/*
 * log_writer.c - the background log writer: meta queue, drains, frames,
 * the file, fork.
 *
 * One drain = one or more LZ4 frames: a CLOCK pair (refined rate), the meta
 * records queued so far, then for every ring a BLOCK, its changed LOST
 * counts and its records. Ring heads are snapshotted BEFORE the meta queue
 * is taken, so a STRING/THREAD/MODULE that a producer queued before writing
 * a record that uses it is always in the same or an earlier frame. Frames
 * are cut at ~1 MiB of content; each carries its content size and checksum
 * (docs/log-format.md).
 *
 * Rotation (opts.rotate_ns / rotate_bytes): after a drain that finds the
 * open segment old or big enough, the writer ends it with SEGMENT(end),
 * opens the next one and starts it with PROCESS, SEGMENT(start), a CLOCK
 * pair, the sticky meta records, the last SAMPLER record and the spans
 * open at that instant (log_mirror.c), all under the drain lock, so no
 * record falls between two segments. Then the oldest closed segments go
 * while they exceed keep_bytes.
 *
 * Threading: all drains (writer thread, lc_log_flush, close) run under
 * drain_lock, which also guards the file and the frame buffer. The meta
 * queue has meta_lock; the ring registry has lc_reg_lock; the lock order is
 * drain_lock, then meta_lock or lc_reg_lock (never both). The writer thread
 * blocks every signal, so neither the program's signals nor the sampler's
 * land on it, and it never produces into a ring.
 */
#include <errno.h>
#include <fcntl.h>
#include <lz4frame.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/futex.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "codec.h"
#include "log_int.h"
#include "spanprof.h"

#define LC_FRAME_SPLIT_BYTES (1024u * 1024u)
#define LC_FRAME_BUF_BYTES   (LC_FRAME_SPLIT_BYTES + LC_CODEC_MAX_ENCODED)
#define LC_DEFAULT_FLUSH_MS  100u

typedef struct lc_meta {
	struct lc_meta *next;
	lc_record rec;
	char data[]; /* deep-copied strings */
} lc_meta;

typedef struct lc_meta_list {
	lc_meta *first, *last;
} lc_meta_list;

static struct lc_log {
	pthread_mutex_t drain_lock, meta_lock;
	int open;
	int fd;
	char *path, *dir, *program;
	uint32_t flush_ms;
	lc_rec_process proc; /* deep copy; strings below */
	char *host, *exe, *cmdline, *traceparent;
	lc_clock_pair first_pair;
	pthread_t thread;
	int thread_running;
	_Atomic int stop;
	lc_meta_list queue, sticky;
	lc_meta_list sticky_threads; /* sticky THREADs of live threads only */
	lc_meta_list held_ends;      /* THREAD_END records for the next drain */
	lc_meta *last_sampler;       /* repeated at the start of each segment */
	/* Rotation (drain_lock). */
	int rotating;
	uint64_t rotate_ns, rotate_bytes, keep_bytes;
	uint32_t seg_index;
	uint64_t seg_start_ns; /* CLOCK_MONOTONIC when the open segment began */
	struct lc_seg {
		uint32_t index;
		uint64_t bytes;
	} * segs; /* closed segments still on disk, oldest first (keep_bytes) */
	size_t n_segs, cap_segs;
	_Atomic uint32_t seg_closed, seg_deleted;
	/* Frame under construction (drain_lock). */
	uint8_t *content;
	size_t content_len;
	lc_codec_state codec;
	uint8_t *compressed;
	size_t compressed_cap;
	int write_failed;
	uint64_t file_bytes; /* end of the last whole frame on disk */
} L = {
    .drain_lock = PTHREAD_MUTEX_INITIALIZER,
    .meta_lock = PTHREAD_MUTEX_INITIALIZER,
    .fd = -1,
};

/* ---- meta records: deep copies ---------------------------------------- */

static size_t meta_extra_bytes(const lc_record *r)
{
	switch (r->type) {
	case LC_REC_STRING:
		return r->u.string.len + 1;
	case LC_REC_THREAD:
		return (r->u.thread.name ? strlen(r->u.thread.name) : 0) + 1;
	case LC_REC_MODULE:
		return r->u.module.path_len + 1 + r->u.module.build_id_len;
	default:
		return 0;
	}
}

static int meta_type_ok(const lc_record *r)
{
	switch (r->type) {
	case LC_REC_STRING: /* longer than the cap: cut when encoded */
		return r->u.string.id != 0 && (r->u.string.len == 0 || r->u.string.bytes);
	case LC_REC_MODULE:
		return r->u.module.end >= r->u.module.start &&
		       (r->u.module.path_len == 0 || r->u.module.path) &&
		       (r->u.module.build_id_len == 0 || r->u.module.build_id);
	case LC_REC_THREAD:
	case LC_REC_THREAD_END:
	case LC_REC_SAMPLER:
	case LC_REC_CLOCK:
		return 1;
	default:
		return 0;
	}
}

static char *copy_bytes(char **cursor, const void *src, size_t len, int nul)
{
	char *dst = *cursor;
	if (len)
		memcpy(dst, src, len);
	if (nul)
		dst[len] = 0;
	*cursor += len + (nul ? 1 : 0);
	return dst;
}

static lc_meta *meta_clone(const lc_record *r)
{
	lc_meta *m = malloc(sizeof *m + meta_extra_bytes(r));
	if (!m)
		return NULL;
	m->next = NULL;
	m->rec = *r;
	char *cur = m->data;
	if (r->type == LC_REC_STRING) {
		m->rec.u.string.bytes = copy_bytes(&cur, r->u.string.bytes, r->u.string.len, 1);
	} else if (r->type == LC_REC_THREAD) {
		const char *n = r->u.thread.name ? r->u.thread.name : "";
		m->rec.u.thread.name = copy_bytes(&cur, n, strlen(n), 1);
	} else if (r->type == LC_REC_MODULE) {
		m->rec.u.module.path = copy_bytes(&cur, r->u.module.path, r->u.module.path_len, 1);
		m->rec.u.module.build_id = (const uint8_t *)copy_bytes(&cur, r->u.module.build_id,
		                                                       r->u.module.build_id_len, 0);
	}
	return m;
}

static void meta_append(lc_meta_list *l, lc_meta *m)
{
	if (l->last)
		l->last->next = m;
	else
		l->first = m;
	l->last = m;
}

static void meta_free_list(lc_meta_list *l)
{
	for (lc_meta *m = l->first, *next; m; m = next) {
		next = m->next;
		free(m);
	}
	l->first = l->last = NULL;
}

static int meta_requeue_list_locked(const lc_meta_list *l)
{
	for (lc_meta *s = l->first; s; s = s->next) {
		lc_meta *m = meta_clone(&s->rec);
		if (!m)
			return -SP_ENOMEM;
		meta_append(&L.queue, m);
	}
	return 0;
}

/* Queues clones of every sticky record. Caller holds meta_lock. */
static int meta_requeue_sticky_locked(void)
{
	int rc = meta_requeue_list_locked(&L.sticky);
	return rc < 0 ? rc : meta_requeue_list_locked(&L.sticky_threads);
}

/* A thread that ended needs no name in a future (fork child's) log: its
 * sticky THREAD goes, so a program that creates threads forever does not
 * grow the sticky list forever. Caller holds meta_lock. */
static void sticky_forget_thread_locked(uint32_t tid)
{
	lc_meta **link = &L.sticky_threads.first, *last = NULL;
	while (*link) {
		lc_meta *m = *link;
		if (m->rec.u.thread.tid == tid) {
			*link = m->next;
			free(m);
			continue;
		}
		last = m;
		link = &m->next;
	}
	L.sticky_threads.last = last;
}

int lc_log_meta(const lc_record *rec, int sticky)
{
	if (!rec || !meta_type_ok(rec))
		return -SP_EINVAL;
	lc_meta *m = meta_clone(rec);
	lc_meta *keep = sticky ? meta_clone(rec) : NULL;
	if (!m || (sticky && !keep)) {
		free(m);
		free(keep);
		return -SP_ENOMEM;
	}
	lc_meta *sampler = rec->type == LC_REC_SAMPLER ? meta_clone(rec) : NULL;
	pthread_mutex_lock(&L.meta_lock);
	if (sampler) { /* a segment repeats the latest: its rate weighs samples */
		free(L.last_sampler);
		L.last_sampler = sampler;
	}
	if (rec->type == LC_REC_THREAD_END)
		sticky_forget_thread_locked(rec->u.thread_end.tid);
	if (keep)
		meta_append(rec->type == LC_REC_THREAD ? &L.sticky_threads : &L.sticky, keep);
	/* A sticky record queued while no log is open reaches the next log
	 * through the sticky list; queueing it too would write it twice. */
	if (L.open || !sticky)
		meta_append(&L.queue, m);
	else
		free(m);
	pthread_mutex_unlock(&L.meta_lock);
	return 0;
}

/* ---- frames ----------------------------------------------------------- */

static int write_all(int fd, const uint8_t *buf, size_t len)
{
	while (len) {
		ssize_t n = write(fd, buf, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -SP_EIO;
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

/* A frame is on disk whole or not at all: after a failed or short write
 * (disk full) the file is cut back to the end of the last whole frame, so
 * the log stays readable and later frames can still follow. */
static void frame_write(size_t n)
{
	if (write_all(L.fd, L.compressed, n) == 0) {
		L.file_bytes += n;
		return;
	}
	L.write_failed = 1;
	if (ftruncate(L.fd, (off_t)L.file_bytes) == 0)
		lseek(L.fd, (off_t)L.file_bytes, SEEK_SET);
}

static void frame_start(void)
{
	L.content_len = 0;
	lc_codec_reset(&L.codec);
}

/* Compresses the content as one LZ4 frame (content size + checksum) and
 * writes it. Empty content writes nothing. */
static void frame_finish(void)
{
	if (L.content_len == 0)
		return;
	LZ4F_preferences_t prefs;
	memset(&prefs, 0, sizeof prefs);
	prefs.frameInfo.blockSizeID = LZ4F_max4MB;
	prefs.frameInfo.contentChecksumFlag = LZ4F_contentChecksumEnabled;
	prefs.frameInfo.contentSize = L.content_len;
	size_t bound = LZ4F_compressFrameBound(L.content_len, &prefs);
	if (bound > L.compressed_cap) {
		uint8_t *grown = realloc(L.compressed, bound);
		if (!grown) {
			L.write_failed = 1;
			frame_start();
			return;
		}
		L.compressed = grown;
		L.compressed_cap = bound;
	}
	size_t n =
	    LZ4F_compressFrame(L.compressed, L.compressed_cap, L.content, L.content_len, &prefs);
	if (!LZ4F_isError(n))
		frame_write(n);
	else
		L.write_failed = 1;
	frame_start();
}

/* Appends one record to the frame; a BLOCK is re-emitted after a split so
 * the thread context carries over into the new frame. */
static void frame_put(const lc_record *rec)
{
	if (L.content_len >= LC_FRAME_SPLIT_BYTES) {
		int in_block = L.codec.in_block;
		uint32_t tid = L.codec.block_tid;
		frame_finish();
		if (in_block && rec->type != LC_REC_BLOCK) {
			lc_record b = {.type = LC_REC_BLOCK, .u.block.tid = tid};
			frame_put(&b);
		}
	}
	int n = lc_codec_encode(&L.codec, rec, L.content + L.content_len);
	if (n > 0)
		L.content_len += (size_t)n;
}

/* ---- drain ------------------------------------------------------------ */

static void clock_pair_refined(lc_clock_pair *p)
{
	lc_clock_pair_now(p);
	const lc_clock_pair *f = &L.first_pair;
	if (lc_clock_kind() == LC_CLOCK_TSC && p->ticks > f->ticks && p->mono_ns > f->mono_ns &&
	    p->mono_ns - f->mono_ns >= 10000000u)
		p->ns_per_tick = (double)(p->mono_ns - f->mono_ns) / (double)(p->ticks - f->ticks);
}

/* Writes the queued meta records, except THREAD_END: those are held back
 * to the end of the NEXT drain. The thread queued its THREAD_END after its
 * last ring records, so the next drain's head snapshot (taken after this
 * one's) holds all of them, and THREAD_END follows them in the file. */
static void drain_meta(lc_meta_list *ends)
{
	pthread_mutex_lock(&L.meta_lock);
	lc_meta *m = L.queue.first;
	L.queue.first = L.queue.last = NULL;
	pthread_mutex_unlock(&L.meta_lock);
	for (lc_meta *next; m; m = next) {
		next = m->next;
		if (m->rec.type == LC_REC_THREAD_END) {
			m->next = NULL;
			meta_append(ends, m);
			continue;
		}
		frame_put(&m->rec);
		free(m);
	}
}

static void put_held_thread_ends(void)
{
	for (lc_meta *m = L.held_ends.first; m; m = m->next)
		frame_put(&m->rec);
	meta_free_list(&L.held_ends);
}

static void put_block(uint32_t tid)
{
	lc_record b = {.type = LC_REC_BLOCK, .u.block.tid = tid};
	frame_put(&b);
}

static int ring_put_lost(lc_ring *ring, int block_open)
{
	for (int k = LC_LOST_EVENTS; k <= LC_LOST_UNWIND; k++) {
		uint64_t n = atomic_load_explicit(&ring->lost[k], memory_order_relaxed);
		if (n == ring->lost_written[k])
			continue;
		if (!block_open++)
			put_block(ring->tid);
		lc_record rec = {.type = LC_REC_LOST};
		rec.u.lost = (lc_rec_lost){.tid = ring->tid, .kind = (uint8_t)k, .count = n};
		frame_put(&rec);
		ring->lost_written[k] = n;
	}
	return block_open;
}

static int ring_put_dropped(lc_ring *ring, int block_open)
{
	for (int k = 0; k < LC_RING_DROP_SLOTS; k++) {
		uint32_t name_id =
		    atomic_load_explicit(&ring->dropped[k].name_id, memory_order_acquire);
		uint64_t n = atomic_load_explicit(&ring->dropped[k].count, memory_order_relaxed);
		if (n == ring->dropped_written[k])
			continue;
		if (!block_open++)
			put_block(ring->tid);
		lc_record rec = {.type = LC_REC_DROPPED};
		rec.u.dropped = (lc_rec_dropped){.tid = ring->tid, .name_id = name_id, .count = n};
		frame_put(&rec);
		ring->dropped_written[k] = n;
	}
	return block_open;
}

static void drain_ring(lc_ring *ring, uint64_t head, const lc_ring_snap *snaps, size_t n)
{
	uint64_t t = atomic_load_explicit(&ring->tail, memory_order_relaxed);
	int block_open = ring_put_dropped(ring, ring_put_lost(ring, 0));
	if (t != head && !block_open)
		put_block(ring->tid);
	while (t != head) {
		lc_record rec;
		uint32_t words;
		unsigned type =
		    lc_ring_raw_to_record_(ring, &ring->buf[t & ring->mask], &rec, &words);
		if (words == 0)
			break; /* cannot happen: producer bug; do not spin */
		if (type != LC_RAW_PAD)
			frame_put(&rec);
		if (L.rotating && type != LC_RAW_PAD && type != LC_REC_SAMPLE)
			lc_mirror_record_(ring, &rec, snaps, n);
		t += words;
	}
	atomic_store_explicit(&ring->tail, head, memory_order_release);
}

static void drain_locked(void)
{
	size_t n;
	lc_meta_list ends = {NULL, NULL};
	lc_ring_snap *snaps = lc_ring_snapshot_all_(&n);
	lc_record clk = {.type = LC_REC_CLOCK};
	clock_pair_refined(&clk.u.clock);
	frame_start();
	frame_put(&clk);
	drain_meta(&ends);
	for (size_t i = 0; i < n; i++)
		drain_ring(snaps[i].ring, snaps[i].head, snaps, n);
	put_held_thread_ends();
	L.held_ends = ends;
	frame_finish();
	for (size_t i = 0; i < n; i++)
		if (snaps[i].retired)
			lc_ring_destroy_(snaps[i].ring);
	free(snaps);
}

/* ---- rotation --------------------------------------------------------- */

static uint64_t mono_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int rotation_due(void)
{
	return (L.rotate_ns && mono_ns() - L.seg_start_ns >= L.rotate_ns) ||
	       (L.rotate_bytes && L.file_bytes >= L.rotate_bytes);
}

static void put_segment(int kind)
{
	lc_record seg = {.type = LC_REC_SEGMENT};
	seg.u.segment =
	    (lc_rec_segment){.ts = lc_clock_ticks(), .kind = (uint8_t)kind, .index = L.seg_index};
	frame_put(&seg);
}

static void put_meta_list(const lc_meta_list *l)
{
	for (const lc_meta *m = l->first; m; m = m->next)
		frame_put(&m->rec);
}

/* The losses counted so far on a ring (cumulative, as written): a segment
 * read alone still says what was lost before it. */
static void put_lost_so_far(lc_ring *ring)
{
	int block_open = 0;
	for (int k = LC_LOST_EVENTS; k <= LC_LOST_UNWIND; k++) {
		if (!ring->lost_written[k])
			continue;
		if (!block_open++)
			put_block(ring->tid);
		lc_record rec = {.type = LC_REC_LOST};
		rec.u.lost = (lc_rec_lost){
		    .tid = ring->tid, .kind = (uint8_t)k, .count = ring->lost_written[k]};
		frame_put(&rec);
	}
}

/* What a segment after the first needs to be read alone: everything but
 * PROCESS (written by file_start). */
static void segment_header(void)
{
	lc_record clk = {.type = LC_REC_CLOCK};
	clock_pair_refined(&clk.u.clock);
	frame_start();
	frame_put(&clk); /* first: the records after it convert with it */
	put_segment(LC_SEGMENT_START);
	pthread_mutex_lock(&L.meta_lock);
	put_meta_list(&L.sticky);
	put_meta_list(&L.sticky_threads);
	if (L.last_sampler)
		frame_put(&L.last_sampler->rec);
	pthread_mutex_unlock(&L.meta_lock);
	size_t n;
	lc_ring_snap *snaps = lc_ring_snapshot_all_(&n);
	for (size_t i = 0; i < n; i++) {
		put_lost_so_far(snaps[i].ring);
		lc_mirror_emit_(snaps[i].ring, frame_put);
	}
	free(snaps);
	frame_finish();
}

static char *segment_path(uint32_t index);

/* Deletes the oldest closed segments while they hold more than keep_bytes. */
static void segments_retain(void)
{
	uint64_t total = 0;
	for (size_t i = 0; i < L.n_segs; i++)
		total += L.segs[i].bytes;
	size_t drop = 0;
	for (; drop < L.n_segs && total > L.keep_bytes; drop++) {
		char *path = segment_path(L.segs[drop].index);
		if (path && unlink(path) == 0)
			atomic_fetch_add(&L.seg_deleted, 1);
		free(path);
		total -= L.segs[drop].bytes;
	}
	memmove(L.segs, L.segs + drop, (L.n_segs - drop) * sizeof *L.segs);
	L.n_segs -= drop;
}

static void segment_closed(uint32_t index, uint64_t bytes)
{
	atomic_fetch_add(&L.seg_closed, 1);
	if (!L.keep_bytes)
		return;
	if (L.n_segs == L.cap_segs) {
		size_t cap = L.cap_segs ? L.cap_segs * 2 : 16;
		struct lc_seg *grown = realloc(L.segs, cap * sizeof *grown);
		if (!grown)
			return; /* not counted: stays on disk */
		L.segs = grown;
		L.cap_segs = cap;
	}
	L.segs[L.n_segs++] = (struct lc_seg){index, bytes};
	segments_retain();
}

static int file_start(void);

/* Ends the open segment and starts the next. The next file is created
 * first: when it cannot be (disk full, directory gone), the open segment
 * simply goes on, and so does rotation at the next drain. */
static void segment_rotate(void)
{
	int old_fd = L.fd;
	char *old_path = L.path;
	uint64_t old_bytes = L.file_bytes;
	int old_failed = L.write_failed;
	L.seg_index++;
	L.path = NULL;
	if (file_start() < 0) {
		if (L.fd >= 0) {
			close(L.fd);
			unlink(L.path);
		}
		free(L.path);
		L.seg_index--;
		L.fd = old_fd;
		L.path = old_path;
		L.file_bytes = old_bytes;
		L.write_failed = old_failed;
		L.seg_start_ns = mono_ns(); /* try again one period later */
		return;
	}
	int new_fd = L.fd;
	uint64_t new_bytes = L.file_bytes;
	/* the end mark goes into the old file */
	L.fd = old_fd;
	L.file_bytes = old_bytes;
	L.seg_index--;
	frame_start();
	put_segment(LC_SEGMENT_END);
	frame_finish();
	uint64_t closed_bytes = L.file_bytes;
	close(old_fd);
	free(old_path);
	L.seg_index++;
	L.fd = new_fd;
	L.file_bytes = new_bytes;
	segment_header();
	L.seg_start_ns = mono_ns();
	segment_closed(L.seg_index - 1, closed_bytes);
}

/* Set on a thread while it drains: a drain never waits for itself. */
static __thread int in_drain __attribute__((tls_model("initial-exec")));

static void drain_if_open(void)
{
	in_drain = 1;
	if (L.open) {
		drain_locked();
		if (L.rotating && rotation_due())
			segment_rotate();
	}
	in_drain = 0;
}

void lc_log_flush(void)
{
	pthread_mutex_lock(&L.drain_lock);
	drain_if_open();
	pthread_mutex_unlock(&L.drain_lock);
}

/* The producer pays for a writer that fell behind (descheduled on a busy
 * machine, or slower than the producers): it waits for the drain lock and
 * drains every ring itself. When the lock came free because another drain
 * emptied this ring, that drain was enough. Errno is the caller's. */
int lc_log_make_room_(lc_ring *ring)
{
	if (in_drain)
		return 0;
	int saved = errno, cancel_state;
	/* write() is a cancellation point: a program thread cancelled inside
	 * the drain would leave the drain lock held forever. */
	pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, &cancel_state);
	uint64_t tail_before = atomic_load_explicit(&ring->tail, memory_order_acquire);
	pthread_mutex_lock(&L.drain_lock);
	int drained = L.open;
	if (drained && atomic_load_explicit(&ring->tail, memory_order_acquire) == tail_before)
		drain_if_open();
	pthread_mutex_unlock(&L.drain_lock);
	pthread_setcancelstate(cancel_state, NULL);
	errno = saved;
	return drained;
}

/* Sleeps until a producer bumps the wake word or the flush interval ends.
 * A bump between the load and the wait makes the wait return at once. */
static void writer_wait(uint32_t seen)
{
	struct timespec timeout = {.tv_sec = L.flush_ms / 1000,
	                           .tv_nsec = (long)(L.flush_ms % 1000) * 1000000L};
	syscall(SYS_futex, &lc_log_wake_word_, FUTEX_WAIT_PRIVATE, seen, &timeout, NULL, 0);
}

/* Test hook: while set, the writer thread does not drain (a writer that
 * fell behind, made certain). Producers then drain on their own. */
static _Atomic int writer_stalled;

void lc_log_stall_writer_(int stalled)
{
	atomic_store(&writer_stalled, stalled);
	lc_log_wake_writer_();
}

/* Flushes asked for from a signal handler (lc_log_flush_from_signal): the
 * writer takes the request count before a drain and publishes it in
 * flush_done after, so a request is answered by a drain that began after
 * it was made. */
static _Atomic uint32_t flush_req, flush_done;

static void *writer_main(void *arg)
{
	(void)arg;
	while (!atomic_load(&L.stop)) {
		/* A flush asked for during the last drain woke nobody (the wake
		 * word was read after it): do not sleep on it. */
		uint32_t seen = atomic_load_explicit(&lc_log_wake_word_, memory_order_acquire);
		if (atomic_load(&flush_req) == atomic_load(&flush_done))
			writer_wait(seen);
		if (atomic_load(&L.stop))
			break;
		if (atomic_load(&writer_stalled))
			continue;
		uint32_t req = atomic_load(&flush_req);
		lc_log_flush();
		if (atomic_exchange(&flush_done, req) != req)
			syscall(SYS_futex, &flush_done, FUTEX_WAKE_PRIVATE, INT32_MAX, NULL, NULL,
			        0);
	}
	return NULL;
}

/* Async-signal-safe: only atomics, futex and clock_gettime (mono_ns). */
int lc_log_flush_from_signal(uint64_t timeout_ns)
{
	/* A thread inside a drain holds the drain lock: the writer would wait
	 * for it. A log without a running writer has nobody to ask. */
	if (in_drain || !__atomic_load_n(&L.open, __ATOMIC_ACQUIRE) ||
	    !__atomic_load_n(&L.thread_running, __ATOMIC_ACQUIRE) || atomic_load(&L.stop))
		return -1;
	int saved = errno;
	uint32_t req = atomic_fetch_add(&flush_req, 1) + 1;
	lc_log_wake_writer_();
	uint64_t deadline = mono_ns() + timeout_ns;
	int rc = -1;
	for (;;) {
		uint32_t done = atomic_load(&flush_done);
		if ((int32_t)(done - req) >= 0) {
			rc = 0;
			break;
		}
		uint64_t now = mono_ns();
		if (now >= deadline)
			break;
		uint64_t left = deadline - now;
		struct timespec ts = {.tv_sec = (time_t)(left / 1000000000ull),
		                      .tv_nsec = (long)(left % 1000000000ull)};
		syscall(SYS_futex, &flush_done, FUTEX_WAIT_PRIVATE, done, &ts, NULL, 0);
	}
	errno = saved;
	return rc;
}

/* ---- open / close ----------------------------------------------------- */

static int errno_to_sp(int e)
{
	if (e == EACCES || e == EPERM)
		return -SP_EPERM;
	if (e == EEXIST)
		return -SP_EEXISTS;
	if (e == ENOMEM)
		return -SP_ENOMEM;
	return -SP_EIO;
}

/* mkdir -p with mode 0700 for the components it creates. */
static int make_dirs(const char *dir)
{
	char *p = strdup(dir);
	if (!p)
		return -SP_ENOMEM;
	int rc = 0;
	for (char *s = p + 1;; s++) {
		char c = *s;
		if (c != '/' && c != 0)
			continue;
		*s = 0;
		if (mkdir(p, 0700) < 0 && errno != EEXIST) {
			rc = errno_to_sp(errno);
			break;
		}
		*s = c;
		if (!c)
			break;
	}
	free(p);
	return rc;
}

static char *read_self_file(const char *path, size_t *len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return NULL;
	char *buf = malloc(LC_MAX_STRING_BYTES + 1);
	ssize_t n = buf ? read(fd, buf, LC_MAX_STRING_BYTES) : -1;
	close(fd);
	if (n < 0) {
		free(buf);
		return NULL;
	}
	buf[n] = 0;
	*len = (size_t)n;
	return buf;
}

static char *self_cmdline(void)
{
	size_t len = 0;
	char *s = read_self_file("/proc/self/cmdline", &len);
	if (!s)
		return strdup("");
	while (len > 0 && s[len - 1] == 0)
		len--;
	for (size_t i = 0; i < len; i++)
		if (s[i] == 0)
			s[i] = ' ';
	s[len] = 0;
	return s;
}

static char *self_exe(void)
{
	char buf[LC_MAX_STRING_BYTES];
	ssize_t n = readlink("/proc/self/exe", buf, sizeof buf - 1);
	if (n < 0)
		n = 0;
	buf[n] = 0;
	return strdup(buf);
}

static char *dup_or(const char *s, char *(*fallback)(void))
{
	return s ? strdup(s) : fallback();
}

static char *empty_string(void)
{
	return strdup("");
}

static char *host_name(void)
{
	char buf[256] = {0};
	gethostname(buf, sizeof buf - 1);
	return strdup(buf);
}

static void proc_free(void)
{
	free(L.host);
	free(L.exe);
	free(L.cmdline);
	free(L.traceparent);
	L.host = L.exe = L.cmdline = L.traceparent = NULL;
}

/* Deep-copies *proc into L.proc, filling what the caller left zero. */
static int proc_capture(const lc_rec_process *proc)
{
	lc_rec_process p = proc ? *proc : (lc_rec_process){0};
	L.host = (p.host && *p.host) ? strdup(p.host) : host_name();
	L.exe = dup_or(p.exe, self_exe);
	L.cmdline = dup_or(p.cmdline, self_cmdline);
	L.traceparent = dup_or(p.traceparent, empty_string);
	if (!L.host || !L.exe || !L.cmdline || !L.traceparent) {
		proc_free();
		return -SP_ENOMEM;
	}
	p.format_version = LC_LOG_FORMAT_VERSION;
	p.min_reader_version = LC_LOG_MIN_READER_VERSION;
	if (!p.pid)
		p.pid = (uint32_t)getpid();
	if (!p.ppid)
		p.ppid = (uint32_t)getppid();
	if (!p.clock_kind || !p.clock.ticks) {
		p.clock_kind = (uint8_t)lc_clock_kind();
		lc_clock_pair_now(&p.clock);
	}
	p.host = L.host;
	p.exe = L.exe;
	p.cmdline = L.cmdline;
	p.traceparent = L.traceparent;
	L.proc = p;
	L.first_pair = p.clock;
	return 0;
}

static void sanitize_program(char *s)
{
	for (; *s; s++)
		if (*s == '/')
			*s = '_';
}

static int settings_capture(const lc_log_opts *opts)
{
	const char *dir = opts && opts->dir ? opts->dir : ".";
	const char *prog = opts && opts->program ? opts->program : program_invocation_short_name;
	L.dir = strdup(dir);
	L.program = strdup(prog && *prog ? prog : "program");
	L.flush_ms =
	    opts && opts->flush_interval_ms ? opts->flush_interval_ms : LC_DEFAULT_FLUSH_MS;
	L.rotate_ns = opts ? opts->rotate_ns : 0;
	L.rotate_bytes = opts ? opts->rotate_bytes : 0;
	L.keep_bytes = opts ? opts->keep_bytes : 0;
	L.rotating = L.rotate_ns || L.rotate_bytes;
	L.seg_index = 0;
	L.n_segs = 0;
	atomic_store(&L.seg_closed, 0);
	atomic_store(&L.seg_deleted, 0);
	if (!L.dir || !L.program)
		return -SP_ENOMEM;
	sanitize_program(L.program);
	return 0;
}

/* <dir>/<program>.<pid>.splog, or with rotation
 * <dir>/<program>.<pid>.s<NNNNNN>.splog (six digits at least, so that the
 * segments of a process sort by name in the order they were written). */
static char *segment_path(uint32_t index)
{
	size_t n = strlen(L.dir) + strlen(L.program) + 48;
	char *path = malloc(n);
	if (!path)
		return NULL;
	if (L.rotating)
		snprintf(path, n, "%s/%s.%u.s%06u.splog", L.dir, L.program, (unsigned)L.proc.pid,
		         (unsigned)index);
	else
		snprintf(path, n, "%s/%s.%u.splog", L.dir, L.program, (unsigned)L.proc.pid);
	return path;
}

static int file_create(void)
{
	int rc = make_dirs(L.dir);
	if (rc < 0)
		return rc;
	L.path = segment_path(L.seg_index);
	if (!L.path)
		return -SP_ENOMEM;
	L.file_bytes = 0;
	L.fd = open(L.path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	return L.fd < 0 ? errno_to_sp(errno) : 0;
}

/* Creates the file and writes the PROCESS frame: first and alone, so that
 * damage elsewhere never costs the record that places everything. */
static int file_start(void)
{
	L.fd = -1;
	int rc = file_create();
	if (rc < 0)
		return rc;
	L.write_failed = 0;
	frame_start();
	lc_record pr = {.type = LC_REC_PROCESS, .u.process = L.proc};
	frame_put(&pr);
	frame_finish();
	return L.write_failed ? -SP_EIO : 0;
}

static lc_log_thread_create_fn thread_create_hook;

void lc_log_set_thread_create(lc_log_thread_create_fn create)
{
	thread_create_hook = create;
}

static int writer_start(void)
{
	lc_log_thread_create_fn create = thread_create_hook ? thread_create_hook : pthread_create;
	sigset_t all, old;
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	atomic_store(&L.stop, 0);
	int rc = create(&L.thread, NULL, writer_main, NULL);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rc != 0)
		return -SP_ENOMEM;
	/* Named here, not in the thread, so it is named when open returns. */
	pthread_setname_np(L.thread, "spanprof-writer");
	__atomic_store_n(&L.thread_running, 1, __ATOMIC_RELEASE);
	return 0;
}

static int buffers_alloc(void)
{
	if (!L.content)
		L.content = malloc(LC_FRAME_BUF_BYTES);
	return L.content ? 0 : -SP_ENOMEM;
}

/* Writes the PROCESS frame (and the first SEGMENT mark when rotating),
 * queues the sticky records, starts the writer. */
static int log_start(void)
{
	int rc = file_start();
	if (rc < 0)
		return rc;
	if (L.rotating) {
		frame_start();
		put_segment(LC_SEGMENT_START);
		frame_finish();
		L.seg_start_ns = mono_ns();
	}
	pthread_mutex_lock(&L.meta_lock);
	rc = meta_requeue_sticky_locked();
	L.open = 1;
	pthread_mutex_unlock(&L.meta_lock);
	if (rc == 0)
		rc = writer_start();
	return rc;
}

static void settings_free(void)
{
	free(L.path);
	free(L.dir);
	free(L.program);
	L.path = L.dir = L.program = NULL;
	proc_free();
}

static void log_abort(void)
{
	pthread_mutex_lock(&L.meta_lock);
	L.open = 0;
	pthread_mutex_unlock(&L.meta_lock);
	if (L.fd >= 0) {
		close(L.fd);
		unlink(L.path);
	}
	L.fd = -1;
	settings_free();
}

int lc_log_open(const lc_log_opts *opts, const lc_rec_process *proc)
{
	if (opts && opts->reserved)
		return -SP_EINVAL;
	lc_clock_init();
	pthread_mutex_lock(&L.drain_lock);
	int rc = L.open ? -SP_ESTATE : 0;
	if (rc == 0) {
		L.write_failed = 0;
		rc = settings_capture(opts);
		if (rc == 0)
			rc = proc_capture(proc);
		if (rc == 0)
			rc = buffers_alloc();
		if (rc == 0)
			rc = log_start();
		if (rc < 0)
			log_abort();
	}
	pthread_mutex_unlock(&L.drain_lock);
	return rc;
}

/* A log that opens later is a new run: no span of this one continues. */
static void mirrors_clear(void)
{
	size_t n;
	lc_ring_snap *snaps = lc_ring_snapshot_all_(&n);
	for (size_t i = 0; i < n; i++)
		lc_mirror_free_(snaps[i].ring);
	free(snaps);
	lc_mirror_forget_early_();
	free(L.segs);
	L.segs = NULL;
	L.n_segs = L.cap_segs = 0;
}

void lc_log_close(void)
{
	pthread_mutex_lock(&L.drain_lock);
	int was_open = L.open;
	pthread_mutex_unlock(&L.drain_lock);
	if (!was_open)
		return;
	if (L.thread_running) {
		atomic_store(&L.stop, 1);
		lc_log_wake_writer_();
		pthread_join(L.thread, NULL);
		__atomic_store_n(&L.thread_running, 0, __ATOMIC_RELEASE);
	}
	pthread_mutex_lock(&L.drain_lock);
	if (L.open) {
		drain_locked();
		drain_locked(); /* writes the THREAD_ENDs the first one held back */
		pthread_mutex_lock(&L.meta_lock);
		L.open = 0;
		free(L.last_sampler); /* a restart's sampler writes its own */
		L.last_sampler = NULL;
		pthread_mutex_unlock(&L.meta_lock);
		if (L.rotating)
			mirrors_clear();
		close(L.fd);
		L.fd = -1;
		settings_free();
	}
	pthread_mutex_unlock(&L.drain_lock);
}

void lc_log_segment_counts(uint32_t *closed, uint32_t *deleted)
{
	if (closed)
		*closed = atomic_load(&L.seg_closed);
	if (deleted)
		*deleted = atomic_load(&L.seg_deleted);
}

int lc_log_is_open(void)
{
	pthread_mutex_lock(&L.drain_lock);
	int open = L.open;
	pthread_mutex_unlock(&L.drain_lock);
	return open;
}

const char *lc_log_path(void)
{
	return L.open ? L.path : NULL;
}

/* ---- fork ------------------------------------------------------------- */

void lc_log_atfork_prepare(void)
{
	pthread_mutex_lock(&L.drain_lock);
	pthread_mutex_lock(&L.meta_lock);
	pthread_mutex_lock(&lc_reg_lock);
}

void lc_log_atfork_parent(void)
{
	pthread_mutex_unlock(&lc_reg_lock);
	pthread_mutex_unlock(&L.meta_lock);
	pthread_mutex_unlock(&L.drain_lock);
}

/* Only the forking thread exists here; the parent's writer thread does not.
 * The parent's file must not be touched: the child gets its own. */
/* Opens the child's log with the parent's settings; the parent's copies are
 * released once lc_log_open has taken its own. */
static int log_reopen_for_child(void)
{
	lc_rec_process proc = L.proc;
	proc.ppid = proc.pid;
	proc.pid = (uint32_t)getpid();
	proc.clock.ticks = 0; /* take a fresh calibration pair */
	lc_log_opts opts = {.dir = L.dir,
	                    .program = L.program,
	                    .flush_interval_ms = L.flush_ms,
	                    .rotate_ns = L.rotate_ns,
	                    .rotate_bytes = L.rotate_bytes,
	                    .keep_bytes = L.keep_bytes};
	char *owned[] = {L.dir, L.program, L.host, L.exe, L.cmdline, L.traceparent, L.path};
	L.dir = L.program = L.host = L.exe = L.cmdline = L.traceparent = L.path = NULL;
	int rc = lc_log_open(&opts, &proc);
	for (size_t i = 0; i < sizeof owned / sizeof owned[0]; i++)
		free(owned[i]);
	return rc;
}

int lc_log_atfork_child(void)
{
	pthread_mutex_init(&lc_reg_lock, NULL);
	pthread_mutex_init(&L.meta_lock, NULL);
	pthread_mutex_init(&L.drain_lock, NULL);
	__atomic_store_n(&L.thread_running, 0, __ATOMIC_RELEASE);
	lc_ring_reset_after_fork_((uint32_t)gettid());
	meta_free_list(&L.queue);
	meta_free_list(&L.held_ends);
	free(L.segs); /* the parent's segments are the parent's to delete */
	L.segs = NULL;
	L.n_segs = L.cap_segs = 0;
	if (!L.open)
		return 0;
	L.open = 0;
	close(L.fd);
	L.fd = -1;
	return log_reopen_for_child();
}
