/*
 * mg_symcache.c - see mg_symcache.h.
 *
 * The file is read whole (a few hundred kB for a big program) and kept:
 * a lookup decodes the entry in place, its strings are NUL-terminated
 * inside it. New entries are separate allocations, never moved, so the
 * strings handed out stay valid until close. Byte order is the host's
 * (the header says which): the cache never leaves the machine.
 *
 * Threading: single-threaded (see the header).
 */
#include "mg_symcache.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "mg_grow.h"
#include "mg_hash.h"

/* Bump when the format or what mg_symdwarf_chain returns changes: older
 * files then no longer match and are replaced. */
#define MG_SYMCACHE_VERSION   1u
#define MG_SYMCACHE_MAGIC     "SPSYMCAC"
#define MG_SYMCACHE_ORDER     0x01020304u
#define MG_SYMCACHE_MAX_FILE  (256u << 20) /* larger is not ours */
#define MG_SYMCACHE_MAX_CHAIN 64
#define MG_SYMCACHE_NEW       (1ull << 63) /* index value: a new entry */

/* The file header: what the entries were computed from. */
typedef struct mg_symcache_hdr {
	char magic[8];
	uint32_t byte_order, version;
	uint64_t file_size, file_mtime_ns;   /* the module file */
	uint64_t debug_size, debug_mtime_ns; /* its /usr/lib/debug/.build-id file, or 0 */
	char build_id_hex[136];
	uint32_t reserved, crc; /* crc: CRC-32 of the bytes before it */
} mg_symcache_hdr;

/* An entry: u32 payload length, u32 CRC-32 of the payload, the payload:
 * u64 address, u8 frame count, then per frame u8 flags (1 inlined, 2 has
 * func, 4 has file), i32 line, and for each string flagged a u32 length
 * (with its NUL) and the bytes. */
typedef struct mg_entry_head {
	uint32_t len, crc;
} mg_entry_head;

struct mg_symcache {
	char path[PATH_MAX];
	mg_symcache_hdr hdr;
	uint8_t *old; /* the file as read */
	size_t old_len;
	uint8_t **added; /* new entries, head included */
	size_t n_added, cap_added;
	mg_hash index; /* (address, 0) -> offset in old, or MG_SYMCACHE_NEW | index in added */
	int dirty;
	uint64_t hits;
};

int mg_symcache_dir(char *buf, size_t len)
{
	const char *xdg = getenv("XDG_CACHE_HOME"), *home = getenv("HOME");
	char base[PATH_MAX];
	int n;
	if (xdg && xdg[0] == '/') /* the XDG spec: a relative value is ignored */
		n = snprintf(base, sizeof base, "%s", xdg);
	else if (home && home[0] == '/')
		n = snprintf(base, sizeof base, "%s/.cache", home);
	else
		return -1;
	if (n < 0 || (size_t)n >= sizeof base)
		return -1;
	n = snprintf(buf, len, "%s/spanprof/symbols", base);
	if (n < 0 || (size_t)n >= len)
		return -1;
	char part[PATH_MAX + 16];
	snprintf(part, sizeof part, "%s/spanprof", base);
	mkdir(base, 0700); /* each may exist already */
	mkdir(part, 0700);
	mkdir(buf, 0700);
	struct stat sb;
	if (lstat(buf, &sb) != 0 || !S_ISDIR(sb.st_mode) || sb.st_uid != geteuid())
		return -1;
	return 0;
}

static uint32_t mg_crc(const void *p, size_t n)
{
	return (uint32_t)crc32(0L, (const Bytef *)p, (uInt)n);
}

/* The identity of the module file and of its separate debuginfo. */
static int mg_symcache_identity(mg_symcache_hdr *h, const char *bid, const char *path)
{
	struct stat sb;
	memset(h, 0, sizeof *h);
	if (stat(path, &sb) != 0 || strlen(bid) >= sizeof h->build_id_hex || strlen(bid) < 2)
		return -1;
	memcpy(h->magic, MG_SYMCACHE_MAGIC, sizeof h->magic);
	h->byte_order = MG_SYMCACHE_ORDER;
	h->version = MG_SYMCACHE_VERSION;
	h->file_size = (uint64_t)sb.st_size;
	h->file_mtime_ns =
	    (uint64_t)sb.st_mtim.tv_sec * 1000000000ull + (uint64_t)sb.st_mtim.tv_nsec;
	strcpy(h->build_id_hex, bid);
	char debug[PATH_MAX];
	snprintf(debug, sizeof debug, "/usr/lib/debug/.build-id/%.2s/%s.debug", bid, bid + 2);
	if (stat(debug, &sb) == 0) {
		h->debug_size = (uint64_t)sb.st_size;
		h->debug_mtime_ns =
		    (uint64_t)sb.st_mtim.tv_sec * 1000000000ull + (uint64_t)sb.st_mtim.tv_nsec;
	}
	h->crc = mg_crc(h, offsetof(mg_symcache_hdr, crc));
	return 0;
}

/* The whole file at path if it is a regular file of ours, else NULL. */
static uint8_t *mg_read_file(const char *path, size_t *len)
{
	int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	struct stat sb;
	uint8_t *buf = NULL;
	*len = 0;
	if (fd < 0)
		return NULL;
	if (fstat(fd, &sb) == 0 && S_ISREG(sb.st_mode) && sb.st_uid == geteuid() &&
	    (uint64_t)sb.st_size <= MG_SYMCACHE_MAX_FILE &&
	    (buf = malloc((size_t)sb.st_size + 1))) {
		size_t done = 0;
		ssize_t r = 1;
		while (done < (size_t)sb.st_size &&
		       (r = read(fd, buf + done, (size_t)sb.st_size - done)) > 0)
			done += (size_t)r;
		*len = done;
	}
	close(fd);
	return buf;
}

/* A string of a payload at *at: NULL if absent, else checked to end in
 * its NUL inside the payload. -1 when malformed. */
static int mg_take_str(const uint8_t *p, size_t len, size_t *at, int present, const char **out)
{
	uint32_t n;
	*out = NULL;
	if (!present)
		return 0;
	if (*at + 4 > len)
		return -1;
	memcpy(&n, p + *at, 4);
	*at += 4;
	if (n == 0 || n > len - *at || p[*at + n - 1] != 0 ||
	    strlen((const char *)p + *at) != n - 1)
		return -1;
	*out = (const char *)p + *at;
	*at += n;
	return 0;
}

/* Decodes a payload into out[cap]; returns the frame count, -1 if
 * malformed. *addr gets the address. */
static int mg_decode(const uint8_t *p, size_t len, uint64_t *addr, mg_frame_txt *out, int cap)
{
	if (len < 9)
		return -1;
	memcpy(addr, p, 8);
	int n = p[8];
	size_t at = 9;
	if (n < 1 || n > MG_SYMCACHE_MAX_CHAIN)
		return -1;
	for (int i = 0; i < n; i++) {
		mg_frame_txt f;
		int32_t line;
		if (at + 5 > len)
			return -1;
		uint8_t flags = p[at];
		memcpy(&line, p + at + 1, 4);
		at += 5;
		f.inlined = flags & 1;
		f.line = line;
		if (mg_take_str(p, len, &at, flags & 2, &f.func) ||
		    mg_take_str(p, len, &at, flags & 4, &f.file))
			return -1;
		if (i < cap)
			out[i] = f;
	}
	return at == len ? (n < cap ? n : cap) : -1;
}

/* Checks the entry at off of buf[len]; its size (head included), 0 when
 * the rest of buf cannot be trusted, or -(size) when this entry is bad
 * but the next one can be read. */
static long mg_entry_check(const uint8_t *buf, size_t len, size_t off, uint64_t *addr)
{
	mg_entry_head h;
	mg_frame_txt chain[MG_SYMCACHE_MAX_CHAIN];
	if (off + sizeof h > len)
		return 0;
	memcpy(&h, buf + off, sizeof h);
	if (h.len > len - off - sizeof h || h.len > (1u << 20))
		return 0;
	long size = (long)(sizeof h + h.len);
	const uint8_t *p = buf + off + sizeof h;
	if (mg_crc(p, h.len) != h.crc ||
	    mg_decode(p, h.len, addr, chain, MG_SYMCACHE_MAX_CHAIN) < 0)
		return -size;
	return size;
}

/* Indexes the valid entries of old; a bad one makes the cache dirty. */
static int mg_symcache_index_old(mg_symcache *c)
{
	size_t off = sizeof(mg_symcache_hdr);
	while (off < c->old_len) {
		uint64_t addr;
		long size = mg_entry_check(c->old, c->old_len, off, &addr);
		if (size == 0) {
			c->dirty = 1;
			break;
		}
		if (size < 0)
			c->dirty = 1;
		else if (!mg_hash_get(&c->index, addr, 0) && mg_hash_put(&c->index, addr, 0, off))
			return -1;
		off += (size_t)(size < 0 ? -size : size);
	}
	return 0;
}

/* 1 when buf starts with a header equal to want. */
static int mg_header_matches(const uint8_t *buf, size_t len, const mg_symcache_hdr *want)
{
	return len >= sizeof *want && memcmp(buf, want, sizeof *want) == 0;
}

mg_symcache *mg_symcache_open(const char *dir, const char *build_id_hex, const char *path)
{
	mg_symcache *c = calloc(1, sizeof *c);
	if (!c)
		return NULL;
	int n = snprintf(c->path, sizeof c->path, "%s/%s", dir, build_id_hex);
	if (n < 0 || (size_t)n >= sizeof c->path || strchr(build_id_hex, '/') ||
	    mg_symcache_identity(&c->hdr, build_id_hex, path)) {
		free(c);
		return NULL;
	}
	c->old = mg_read_file(c->path, &c->old_len);
	if (c->old && !mg_header_matches(c->old, c->old_len, &c->hdr)) {
		free(c->old); /* another build of the file, or not ours: replaced */
		c->old = NULL;
		c->old_len = 0;
		c->dirty = 1;
	}
	if (c->old && mg_symcache_index_old(c)) {
		mg_symcache_close(c);
		return NULL;
	}
	return c;
}

int mg_symcache_get(mg_symcache *c, uint64_t addr, mg_frame_txt *out, int cap)
{
	uint64_t *v = mg_hash_get(&c->index, addr, 0);
	if (!v)
		return 0;
	const uint8_t *e = *v & MG_SYMCACHE_NEW ? c->added[*v & ~MG_SYMCACHE_NEW] : c->old + *v;
	mg_entry_head h;
	uint64_t at;
	memcpy(&h, e, sizeof h);
	int n = mg_decode(e + sizeof h, h.len, &at, out, cap);
	if (n > 0)
		c->hits++;
	return n > 0 ? n : 0;
}

static size_t mg_str_size(const char *s)
{
	return s ? 4 + strlen(s) + 1 : 0;
}

static uint8_t *mg_put_str(uint8_t *p, const char *s)
{
	if (!s)
		return p;
	uint32_t n = (uint32_t)strlen(s) + 1;
	memcpy(p, &n, 4);
	memcpy(p + 4, s, n);
	return p + 4 + n;
}

/* One encoded entry (head included), malloc'd; NULL on out of memory. */
static uint8_t *mg_encode(uint64_t addr, const mg_frame_txt *chain, int n)
{
	size_t len = 9;
	for (int i = 0; i < n; i++)
		len += 5 + mg_str_size(chain[i].func) + mg_str_size(chain[i].file);
	uint8_t *e = malloc(sizeof(mg_entry_head) + len);
	if (!e)
		return NULL;
	uint8_t *p = e + sizeof(mg_entry_head);
	memcpy(p, &addr, 8);
	p[8] = (uint8_t)n;
	p += 9;
	for (int i = 0; i < n; i++) {
		int32_t line = chain[i].line;
		*p = (uint8_t)((chain[i].inlined ? 1 : 0) | (chain[i].func ? 2 : 0) |
		               (chain[i].file ? 4 : 0));
		memcpy(p + 1, &line, 4);
		p = mg_put_str(mg_put_str(p + 5, chain[i].func), chain[i].file);
	}
	mg_entry_head h = {(uint32_t)len, mg_crc(e + sizeof h, len)};
	memcpy(e, &h, sizeof h);
	return e;
}

int mg_symcache_put(mg_symcache *c, uint64_t addr, const mg_frame_txt *chain, int n)
{
	if (n < 1 || n > MG_SYMCACHE_MAX_CHAIN || mg_hash_get(&c->index, addr, 0))
		return 0;
	if (MG_GROW_ONE(c->added, c->cap_added, c->n_added))
		return -1;
	uint8_t *e = mg_encode(addr, chain, n);
	if (!e || mg_hash_put(&c->index, addr, 0, MG_SYMCACHE_NEW | c->n_added)) {
		free(e);
		return -1;
	}
	c->added[c->n_added++] = e;
	c->dirty = 1;
	return 0;
}

static int mg_write_all(int fd, const void *p, size_t n)
{
	const uint8_t *b = p;
	while (n > 0) {
		ssize_t w = write(fd, b, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		b += w;
		n -= (size_t)w;
	}
	return 0;
}

/* Writes the valid entries of buf[len] (a cache file) whose address
 * passes: not in c->index when skip_known, else all. */
static int mg_write_entries(int fd, mg_symcache *c, const uint8_t *buf, size_t len, int skip_known)
{
	size_t off = sizeof(mg_symcache_hdr);
	while (off < len) {
		uint64_t addr;
		long size = mg_entry_check(buf, len, off, &addr);
		if (size == 0)
			break;
		if (size > 0 && !(skip_known && mg_hash_get(&c->index, addr, 0)) &&
		    mg_write_all(fd, buf + off, (size_t)size))
			return -1;
		off += (size_t)(size < 0 ? -size : size);
	}
	return 0;
}

/* Header, what another merge wrote since we read, ours; then rename. */
static int mg_symcache_write(mg_symcache *c)
{
	char tmp[PATH_MAX + 32];
	size_t disk_len = 0;
	uint8_t *disk = mg_read_file(c->path, &disk_len);
	if (disk && !mg_header_matches(disk, disk_len, &c->hdr)) {
		free(disk);
		disk = NULL;
	}
	snprintf(tmp, sizeof tmp, "%s.tmp.%ld", c->path, (long)getpid());
	unlink(tmp); /* our own pid's, left by a killed merge */
	int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	int err = fd < 0 || mg_write_all(fd, &c->hdr, sizeof c->hdr) ||
	          (disk && mg_write_entries(fd, c, disk, disk_len, 1)) ||
	          (c->old && mg_write_entries(fd, c, c->old, c->old_len, 0));
	for (size_t i = 0; !err && i < c->n_added; i++) {
		mg_entry_head h;
		memcpy(&h, c->added[i], sizeof h);
		err = mg_write_all(fd, c->added[i], sizeof h + h.len);
	}
	free(disk);
	if (fd >= 0 && close(fd) != 0)
		err = 1;
	if (!err && rename(tmp, c->path) != 0)
		err = 1;
	if (err && fd >= 0)
		unlink(tmp);
	return err ? -1 : 0;
}

int mg_symcache_close(mg_symcache *c)
{
	if (!c)
		return 0;
	int err = c->dirty ? mg_symcache_write(c) : 0;
	for (size_t i = 0; i < c->n_added; i++)
		free(c->added[i]);
	free(c->added);
	free(c->old);
	mg_hash_free(&c->index);
	free(c);
	return err;
}

void mg_symcache_stats(const mg_symcache *c, uint64_t *hits, uint64_t *added)
{
	*hits = c ? c->hits : 0;
	*added = c ? c->n_added : 0;
}
