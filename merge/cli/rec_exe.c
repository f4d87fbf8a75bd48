/*
 * rec_exe.c - see rec_exe.h. The runtime reaches a program through
 * LD_PRELOAD, which the dynamic loader (the ELF interpreter named by
 * PT_INTERP) reads: a static executable has no loader, so nothing is
 * preloaded and no log is written. A ThreadSanitizer build is detected by
 * libtsan in its DT_NEEDED list (GCC) or the __tsan_init symbol in its
 * dynamic symbol table (Clang links the runtime into the executable and
 * exports it); see docs/sampling.md for why the two cannot run together.
 *
 * The headers are read with libelf, which validates them: the file is
 * untrusted, and a malformed one is simply "not a known kind".
 */
#include "rec_exe.h"

#include <fcntl.h>
#include <gelf.h>
#include <libelf.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int rec_exe_is_runnable(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0 && S_ISREG(st.st_mode) && access(path, X_OK) == 0;
}

/* execvp's search: a name with a '/' is used as is, else each $PATH entry
 * (an empty entry is the current directory). */
static int rec_exe_find(const char *program, char *path, size_t cap)
{
	if (strchr(program, '/'))
		return snprintf(path, cap, "%s", program) < (int)cap ? 0 : -1;
	const char *dirs = getenv("PATH");
	if (!dirs)
		dirs = "/usr/local/bin:/usr/bin:/bin";
	while (*dirs) {
		size_t len = strcspn(dirs, ":");
		int n = snprintf(path, cap, "%.*s%s%s", (int)len, dirs, len ? "/" : "", program);
		if (n > 0 && (size_t)n < cap && rec_exe_is_runnable(path))
			return 0;
		dirs += len + (dirs[len] == ':');
	}
	path[0] = '\0';
	return -1;
}

static int rec_exe_has_interp(Elf *elf)
{
	size_t count;
	if (elf_getphdrnum(elf, &count) != 0)
		return 1; /* unreadable: do not claim it is static */
	for (size_t i = 0; i < count; i++) {
		GElf_Phdr ph;
		if (gelf_getphdr(elf, (int)i, &ph) && ph.p_type == PT_INTERP)
			return 1;
	}
	return 0;
}

static int rec_exe_needs_tsan(Elf *elf, Elf_Scn *scn, const GElf_Shdr *sh)
{
	Elf_Data *data = elf_getdata(scn, NULL);
	size_t count = sh->sh_entsize ? sh->sh_size / sh->sh_entsize : 0;
	for (size_t i = 0; data && i < count; i++) {
		GElf_Dyn dyn;
		if (!gelf_getdyn(data, (int)i, &dyn) || dyn.d_tag != DT_NEEDED)
			continue;
		const char *name = elf_strptr(elf, sh->sh_link, dyn.d_un.d_val);
		if (name && strncmp(name, "libtsan", 7) == 0)
			return 1;
	}
	return 0;
}

static int rec_exe_has_tsan_symbol(Elf *elf, Elf_Scn *scn, const GElf_Shdr *sh)
{
	Elf_Data *data = elf_getdata(scn, NULL);
	size_t count = sh->sh_entsize ? sh->sh_size / sh->sh_entsize : 0;
	for (size_t i = 0; data && i < count; i++) {
		GElf_Sym sym;
		if (!gelf_getsym(data, (int)i, &sym))
			continue;
		const char *name = elf_strptr(elf, sh->sh_link, sym.st_name);
		if (name && strcmp(name, "__tsan_init") == 0)
			return 1;
	}
	return 0;
}

static int rec_exe_is_tsan(Elf *elf)
{
	Elf_Scn *scn = NULL;
	while ((scn = elf_nextscn(elf, scn)) != NULL) {
		GElf_Shdr sh;
		if (!gelf_getshdr(scn, &sh))
			continue;
		if (sh.sh_type == SHT_DYNAMIC && rec_exe_needs_tsan(elf, scn, &sh))
			return 1;
		if (sh.sh_type == SHT_DYNSYM && rec_exe_has_tsan_symbol(elf, scn, &sh))
			return 1;
	}
	return 0;
}

rec_exe_kind rec_exe_inspect(const char *program, char *path, size_t cap)
{
	if (rec_exe_find(program, path, cap) != 0)
		return REC_EXE_OK;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return REC_EXE_OK;
	rec_exe_kind kind = REC_EXE_OK;
	elf_version(EV_CURRENT);
	Elf *elf = elf_begin(fd, ELF_C_READ_MMAP, NULL);
	GElf_Ehdr eh;
	if (!elf || elf_kind(elf) != ELF_K_ELF || !gelf_getehdr(elf, &eh))
		goto out;
	if (eh.e_type != ET_EXEC && eh.e_type != ET_DYN)
		goto out;
	if (!rec_exe_has_interp(elf))
		kind = REC_EXE_STATIC;
	else if (rec_exe_is_tsan(elf))
		kind = REC_EXE_TSAN;
out:
	elf_end(elf);
	close(fd);
	return kind;
}

const char *rec_exe_reason(rec_exe_kind kind)
{
	switch (kind) {
	case REC_EXE_STATIC:
		return "it is statically linked: spanprof enters a program through LD_PRELOAD, "
		       "which only the dynamic loader reads, and a static program has none "
		       "(rebuild it without -static to record it)";
	case REC_EXE_TSAN:
		return "it is built with ThreadSanitizer (-fsanitize=thread), which crashes when "
		       "the sampler's unwinder cleans up at thread exit (see docs/sampling.md); "
		       "record a build without -fsanitize=thread";
	default:
		return "";
	}
}
