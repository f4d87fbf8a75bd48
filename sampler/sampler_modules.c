/*
 * sampler_modules.c - MODULE records for offline symbolization.
 *
 * Design: dl_iterate_phdr lists the loaded objects; for each object not seen
 * before (key: load bias + name), every executable PT_LOAD segment becomes
 * one MODULE record (start/end of the segment in memory, its file offset,
 * the object's path and its GNU build-id from PT_NOTE), queued as a sticky
 * meta record so a forked child's log has it too. A pc in [start, end) is at
 * file offset pc - start + file_offset of that file. The main executable
 * (empty name) is /proc/self/exe; the vDSO is recorded as "[vdso]".
 *
 * Records are collected first and queued after dl_iterate_phdr returns, so
 * the loader lock is never held while taking the log's lock.
 *
 * Threading: scans are serialised by a mutex; called at start, after
 * dlopen, and at stop. Not signal-safe.
 */
#include <elf.h>
#include <link.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clock.h"
#include "sampler_int.h"

typedef struct smp_module_key {
	uintptr_t bias;
	uint64_t name_hash;
} smp_module_key;

typedef struct smp_module_pending {
	uint64_t start, end, file_offset;
	char path[PATH_MAX];
	uint8_t build_id[LC_MAX_BUILD_ID_BYTES];
	uint32_t build_id_len;
} smp_module_pending;

typedef struct smp_module_scan {
	smp_module_pending *items;
	size_t count, cap;
} smp_module_scan;

static pthread_mutex_t smp_modules_mutex = PTHREAD_MUTEX_INITIALIZER;
static smp_module_key *smp_seen;
static size_t smp_seen_count, smp_seen_cap;

static uint64_t smp_hash_name(const char *s)
{
	uint64_t h = 1469598103934665603ull; /* FNV-1a */
	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ull;
	return h;
}

static int smp_seen_add(uintptr_t bias, const char *name)
{
	uint64_t h = smp_hash_name(name);
	for (size_t i = 0; i < smp_seen_count; i++)
		if (smp_seen[i].bias == bias && smp_seen[i].name_hash == h)
			return 0;
	if (smp_seen_count == smp_seen_cap) {
		size_t cap = smp_seen_cap ? smp_seen_cap * 2 : 64;
		smp_module_key *grown = realloc(smp_seen, cap * sizeof *grown);
		if (!grown)
			return 0;
		smp_seen = grown;
		smp_seen_cap = cap;
	}
	smp_seen[smp_seen_count++] = (smp_module_key){bias, h};
	return 1;
}

static void smp_module_path(const char *name, char *out, size_t cap)
{
	if (name && *name == '\0') {
		ssize_t n = readlink("/proc/self/exe", out, cap - 1);
		out[n > 0 ? n : 0] = '\0';
	} else if (name && strstr(name, "linux-vdso") == name) {
		strncpy(out, "[vdso]", cap - 1);
		out[cap - 1] = '\0';
	} else {
		strncpy(out, name ? name : "", cap - 1);
		out[cap - 1] = '\0';
	}
}

/* Copies the NT_GNU_BUILD_ID descriptor of one PT_NOTE segment, if any. */
static uint32_t smp_note_build_id(const uint8_t *p, size_t size, uint8_t *out)
{
	size_t off = 0;
	while (off + sizeof(ElfW(Nhdr)) <= size) {
		const ElfW(Nhdr) *nh = (const ElfW(Nhdr) *)(p + off);
		size_t name_off = off + sizeof *nh;
		size_t desc_off = name_off + ((nh->n_namesz + 3u) & ~3u);
		size_t next = desc_off + ((nh->n_descsz + 3u) & ~3u);
		if (next > size)
			break;
		if (nh->n_type == NT_GNU_BUILD_ID && nh->n_namesz == 4 &&
		    memcmp(p + name_off, "GNU", 4) == 0 && nh->n_descsz <= LC_MAX_BUILD_ID_BYTES) {
			memcpy(out, p + desc_off, nh->n_descsz);
			return nh->n_descsz;
		}
		off = next;
	}
	return 0;
}

static uint32_t smp_object_build_id(const struct dl_phdr_info *info, uint8_t *out)
{
	for (int i = 0; i < info->dlpi_phnum; i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
		if (ph->p_type != PT_NOTE)
			continue;
		uint32_t len = smp_note_build_id((const uint8_t *)(info->dlpi_addr + ph->p_vaddr),
		                                 ph->p_memsz, out);
		if (len)
			return len;
	}
	return 0;
}

static smp_module_pending *smp_scan_push(smp_module_scan *scan)
{
	if (scan->count == scan->cap) {
		size_t cap = scan->cap ? scan->cap * 2 : 16;
		smp_module_pending *grown = realloc(scan->items, cap * sizeof *grown);
		if (!grown)
			return NULL;
		scan->items = grown;
		scan->cap = cap;
	}
	return &scan->items[scan->count++];
}

static int smp_scan_object(struct dl_phdr_info *info, size_t size, void *data)
{
	(void)size;
	smp_module_scan *scan = data;
	if (!smp_seen_add(info->dlpi_addr, info->dlpi_name ? info->dlpi_name : ""))
		return 0;
	uint8_t build_id[LC_MAX_BUILD_ID_BYTES];
	uint32_t build_id_len = smp_object_build_id(info, build_id);
	for (int i = 0; i < info->dlpi_phnum; i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
		if (ph->p_type != PT_LOAD || !(ph->p_flags & PF_X))
			continue;
		smp_module_pending *m = smp_scan_push(scan);
		if (!m)
			return 1;
		m->start = info->dlpi_addr + ph->p_vaddr;
		m->end = m->start + ph->p_memsz;
		m->file_offset = ph->p_offset;
		smp_module_path(info->dlpi_name, m->path, sizeof m->path);
		memcpy(m->build_id, build_id, build_id_len);
		m->build_id_len = build_id_len;
	}
	return 0;
}

static void smp_module_emit(const smp_module_pending *m, uint64_t ts)
{
	lc_record rec;
	memset(&rec, 0, sizeof rec);
	rec.type = LC_REC_MODULE;
	rec.u.module.start = m->start;
	rec.u.module.end = m->end;
	rec.u.module.file_offset = m->file_offset;
	rec.u.module.path = m->path;
	rec.u.module.path_len = (uint32_t)strlen(m->path);
	rec.u.module.build_id = m->build_id;
	rec.u.module.build_id_len = m->build_id_len;
	rec.u.module.ts = ts;
	lc_log_meta(&rec, 1);
}

void smp_modules_scan(void)
{
	smp_module_scan scan = {NULL, 0, 0};
	pthread_mutex_lock(&smp_modules_mutex);
	dl_iterate_phdr(smp_scan_object, &scan);
	pthread_mutex_unlock(&smp_modules_mutex);
	uint64_t ts = lc_clock_ticks();
	for (size_t i = 0; i < scan.count; i++)
		smp_module_emit(&scan.items[i], ts);
	free(scan.items);
}

/* Fork child: the address space (and so what was seen) is the parent's;
 * the log writer re-emits the sticky MODULE records itself. */
void smp_modules_after_fork(void)
{
	pthread_mutex_init(&smp_modules_mutex, NULL);
}
