/*
 * Guest agent for the VM cluster: JSON lines over the virtio-serial port named by argv[1].
 *
 * C, statically linked, built by image.ts and carried in the initramfs. Under TCG a cold perl
 * with JSON::PP and POSIX took 3-5 s to start and a cold node 5-7 s; this starts in
 * milliseconds and reads nothing from the 9p root. One poll() loop serves every request, so a
 * long exec never delays a ping.
 *
 * Requests: {id, op, ...}; replies: {id, ok:true, result} | {id, ok:false, error}.
 *   ping                                          -> {uptimeMs, ready}  (ready: /run/vmc-ready exists)
 *   exec {argv|sh, timeoutMs, inputB64, env, cwd} -> {code, signal, stdoutB64, stderrB64, timedOut, durationMs}
 *   spawn {argv|sh, env, cwd, log}                -> {pid, log}   (stdout+stderr appended to log)
 *   kill {pid, signal, group}                     -> {sent}       (the process group unless group: false)
 *   procs                                         -> [{pid, argv, log, exited, code, signal}]
 *   read {path}                                   -> {dataB64}
 *   write {path, dataB64, mode}                   -> {}
 * exec with argv ["@unix-line", SOCKET] runs no program: the child sends its input to the Unix
 * stream socket SOCKET and prints what comes back up to the first newline (one admin request to
 * vigild in milliseconds, where the vigil CLI or perl cost 1.5-3 s of guest CPU under TCG).
 * Strings are bytes: \uXXXX escapes decode to UTF-8, and bytes are written back as they are.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

/* ---- growable byte buffer ------------------------------------------------------------------ */

typedef struct {
  char *p;
  size_t len, cap;
} buf_t;

static void buf_reserve(buf_t *b, size_t extra) {
  if (b->len + extra + 1 <= b->cap) return;
  size_t cap = b->cap ? b->cap : 256;
  while (cap < b->len + extra + 1) cap *= 2;
  char *p = realloc(b->p, cap);
  if (!p) {
    /* Out of memory in a 512 MB test VM: nothing sensible is left to do; the host sees the channel close. */
    static const char msg[] = "vmc-agent: out of memory\n";
    (void)!write(2, msg, sizeof msg - 1);
    _exit(70);
  }
  b->p = p;
  b->cap = cap;
  b->p[b->len] = 0; /* always a C string, even before the first byte is added */
}

static void buf_add(buf_t *b, const void *d, size_t n) {
  buf_reserve(b, n);
  memcpy(b->p + b->len, d, n);
  b->len += n;
  b->p[b->len] = 0;
}

static void buf_adds(buf_t *b, const char *s) { buf_add(b, s, strlen(s)); }

static void buf_addf(buf_t *b, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(NULL, 0, fmt, ap);
  va_end(ap);
  buf_reserve(b, (size_t)n);
  va_start(ap, fmt);
  vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap);
  va_end(ap);
  b->len += (size_t)n;
}

static void buf_consume(buf_t *b, size_t n) {
  memmove(b->p, b->p + n, b->len - n);
  b->len -= n;
  if (b->p) b->p[b->len] = 0;
}

static void buf_free(buf_t *b) {
  free(b->p);
  b->p = NULL;
  b->len = b->cap = 0;
}

/* ---- JSON values (requests) ------------------------------------------------------------------ */

enum { J_NULL, J_BOOL, J_NUM, J_STR, J_ARR, J_OBJ };

typedef struct jv {
  int type;
  int boolean;
  double num;
  char *str; /* J_STR: bytes, NUL-terminated (embedded NULs kept, see len) */
  size_t len;
  size_t n;   /* J_ARR / J_OBJ: number of items */
  char **keys; /* J_OBJ */
  struct jv *items;
} jv;

typedef struct {
  const char *p, *end;
  int depth;
} jparser;

static void jv_free(jv *v) {
  free(v->str);
  for (size_t i = 0; i < v->n; i++) {
    if (v->keys) free(v->keys[i]);
    jv_free(&v->items[i]);
  }
  free(v->keys);
  free(v->items);
  memset(v, 0, sizeof *v);
}

static void skip_ws(jparser *s) {
  while (s->p < s->end && (*s->p == ' ' || *s->p == '\t' || *s->p == '\r' || *s->p == '\n')) s->p++;
}

static int hex4(const char *p, unsigned *out) {
  unsigned v = 0;
  for (int i = 0; i < 4; i++) {
    char c = p[i];
    v <<= 4;
    if (c >= '0' && c <= '9') v |= (unsigned)(c - '0');
    else if (c >= 'a' && c <= 'f') v |= (unsigned)(c - 'a' + 10);
    else if (c >= 'A' && c <= 'F') v |= (unsigned)(c - 'A' + 10);
    else return -1;
  }
  *out = v;
  return 0;
}

static void add_utf8(buf_t *b, unsigned cp) {
  char u[4];
  size_t n;
  if (cp < 0x80) u[0] = (char)cp, n = 1;
  else if (cp < 0x800) u[0] = (char)(0xc0 | cp >> 6), u[1] = (char)(0x80 | (cp & 0x3f)), n = 2;
  else if (cp < 0x10000)
    u[0] = (char)(0xe0 | cp >> 12), u[1] = (char)(0x80 | ((cp >> 6) & 0x3f)), u[2] = (char)(0x80 | (cp & 0x3f)), n = 3;
  else
    u[0] = (char)(0xf0 | cp >> 18), u[1] = (char)(0x80 | ((cp >> 12) & 0x3f)), u[2] = (char)(0x80 | ((cp >> 6) & 0x3f)),
    u[3] = (char)(0x80 | (cp & 0x3f)), n = 4;
  buf_add(b, u, n);
}

static int parse_string(jparser *s, char **out, size_t *outlen) {
  if (s->p >= s->end || *s->p != '"') return -1;
  s->p++;
  buf_t b = {0};
  buf_reserve(&b, 0);
  while (s->p < s->end && *s->p != '"') {
    unsigned char c = (unsigned char)*s->p++;
    if (c < 0x20) goto bad;
    if (c != '\\') {
      buf_add(&b, &c, 1);
      continue;
    }
    if (s->p >= s->end) goto bad;
    char e = *s->p++;
    switch (e) {
      case '"': case '\\': case '/': buf_add(&b, &e, 1); break;
      case 'b': buf_adds(&b, "\b"); break;
      case 'f': buf_adds(&b, "\f"); break;
      case 'n': buf_adds(&b, "\n"); break;
      case 'r': buf_adds(&b, "\r"); break;
      case 't': buf_adds(&b, "\t"); break;
      case 'u': {
        unsigned cp, lo;
        if (s->end - s->p < 4 || hex4(s->p, &cp)) goto bad;
        s->p += 4;
        if (cp >= 0xd800 && cp < 0xdc00 && s->end - s->p >= 6 && s->p[0] == '\\' && s->p[1] == 'u' && !hex4(s->p + 2, &lo) &&
            lo >= 0xdc00 && lo < 0xe000) {
          cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
          s->p += 6;
        }
        add_utf8(&b, cp);
        break;
      }
      default: goto bad;
    }
  }
  if (s->p >= s->end) goto bad;
  s->p++;
  *out = b.p;
  *outlen = b.len;
  return 0;
bad:
  buf_free(&b);
  return -1;
}

static int parse_value(jparser *s, jv *v);

static int parse_container(jparser *s, jv *v, int obj) {
  char close = obj ? '}' : ']';
  v->type = obj ? J_OBJ : J_ARR;
  s->p++;
  if (++s->depth > 32) return -1;
  skip_ws(s);
  if (s->p < s->end && *s->p == close) {
    s->p++;
    s->depth--;
    return 0;
  }
  for (;;) {
    char *key = NULL;
    size_t klen;
    skip_ws(s);
    if (obj) {
      if (parse_string(s, &key, &klen)) return -1;
      skip_ws(s);
      if (s->p >= s->end || *s->p != ':') {
        free(key);
        return -1;
      }
      s->p++;
    }
    jv item = {0};
    if (parse_value(s, &item)) {
      free(key);
      jv_free(&item);
      return -1;
    }
    v->items = realloc(v->items, (v->n + 1) * sizeof *v->items);
    if (obj) v->keys = realloc(v->keys, (v->n + 1) * sizeof *v->keys);
    if (!v->items || (obj && !v->keys)) _exit(70);
    v->items[v->n] = item;
    if (obj) v->keys[v->n] = key;
    v->n++;
    skip_ws(s);
    if (s->p < s->end && *s->p == ',') {
      s->p++;
      continue;
    }
    if (s->p < s->end && *s->p == close) {
      s->p++;
      s->depth--;
      return 0;
    }
    return -1;
  }
}

static int parse_value(jparser *s, jv *v) {
  skip_ws(s);
  if (s->p >= s->end) return -1;
  char c = *s->p;
  if (c == '{' || c == '[') return parse_container(s, v, c == '{');
  if (c == '"') {
    v->type = J_STR;
    return parse_string(s, &v->str, &v->len);
  }
  static const struct { const char *word; int type, boolean; } lits[] = {{"true", J_BOOL, 1}, {"false", J_BOOL, 0}, {"null", J_NULL, 0}};
  for (size_t i = 0; i < 3; i++) {
    size_t n = strlen(lits[i].word);
    if ((size_t)(s->end - s->p) >= n && !memcmp(s->p, lits[i].word, n)) {
      s->p += n;
      v->type = lits[i].type;
      v->boolean = lits[i].boolean;
      return 0;
    }
  }
  if (c == '-' || (c >= '0' && c <= '9')) {
    char tmp[64];
    size_t n = 0;
    while (s->p + n < s->end && n < sizeof tmp - 1 && strchr("+-.eE0123456789", s->p[n])) n++;
    memcpy(tmp, s->p, n);
    tmp[n] = 0;
    char *endp;
    v->num = strtod(tmp, &endp);
    if (endp != tmp + n || !isfinite(v->num)) return -1;
    v->type = J_NUM;
    s->p += n;
    return 0;
  }
  return -1;
}

static jv *jget(const jv *obj, const char *key) {
  if (!obj || obj->type != J_OBJ) return NULL;
  for (size_t i = 0; i < obj->n; i++)
    if (!strcmp(obj->keys[i], key)) return &obj->items[i];
  return NULL;
}

static const char *jstr(const jv *obj, const char *key) {
  jv *v = jget(obj, key);
  return v && v->type == J_STR ? v->str : NULL;
}

static int jnum(const jv *obj, const char *key, double *out) {
  jv *v = jget(obj, key);
  if (!v || v->type != J_NUM) return 0;
  *out = v->num;
  return 1;
}

/* ---- JSON output ------------------------------------------------------------------------------ */

static void json_str(buf_t *b, const char *s, size_t n) {
  buf_adds(b, "\"");
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    if (c == '"' || c == '\\') buf_addf(b, "\\%c", c);
    else if (c < 0x20 || c == 0x7f) buf_addf(b, "\\u%04x", c);
    else buf_add(b, &c, 1);
  }
  buf_adds(b, "\"");
}

static void json_cstr(buf_t *b, const char *s) {
  if (s) json_str(b, s, strlen(s));
  else buf_adds(b, "null");
}

static const char b64chars[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static void json_base64(buf_t *b, const unsigned char *d, size_t n) {
  buf_reserve(b, (n + 2) / 3 * 4 + 2);
  char *o = b->p + b->len;
  *o++ = '"';
  size_t i = 0;
  for (; i + 2 < n; i += 3) {
    unsigned v = (unsigned)d[i] << 16 | (unsigned)d[i + 1] << 8 | d[i + 2];
    *o++ = b64chars[v >> 18], *o++ = b64chars[(v >> 12) & 63], *o++ = b64chars[(v >> 6) & 63], *o++ = b64chars[v & 63];
  }
  if (i < n) {
    unsigned v = (unsigned)d[i] << 16 | (i + 1 < n ? (unsigned)d[i + 1] << 8 : 0);
    *o++ = b64chars[v >> 18], *o++ = b64chars[(v >> 12) & 63];
    *o++ = i + 1 < n ? b64chars[(v >> 6) & 63] : '=';
    *o++ = '=';
  }
  *o++ = '"';
  b->len = (size_t)(o - b->p);
  b->p[b->len] = 0;
}

/* Decode base64 (whitespace ignored); -1 on anything else. */
static int base64_decode(const char *s, buf_t *out) {
  unsigned v = 0;
  int bits = 0;
  for (; *s; s++) {
    if (*s == '=' || *s == ' ' || *s == '\n' || *s == '\r') continue;
    const char *at = strchr(b64chars, *s);
    if (!at) return -1;
    v = v << 6 | (unsigned)(at - b64chars);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      char c = (char)(v >> bits);
      buf_add(out, &c, 1);
      v &= (1u << bits) - 1;
    }
  }
  return 0;
}

/* ---- clocks, signals ------------------------------------------------------------------------ */

static double mono_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double uptime_s(void) {
  FILE *f = fopen("/proc/uptime", "r");
  double up = 0;
  if (f) {
    if (fscanf(f, "%lf", &up) != 1) up = 0;
    fclose(f);
  }
  return up;
}

static void signal_name(int sig, char *out, size_t n) {
  const char *abbrev = sigabbrev_np(sig);
  if (abbrev) snprintf(out, n, "SIG%s", abbrev);
  else snprintf(out, n, "SIG%d", sig);
}

static int signal_number(const char *name) {
  if (!strncmp(name, "SIG", 3)) name += 3;
  for (int sig = 1; sig < NSIG; sig++) {
    const char *abbrev = sigabbrev_np(sig);
    if (abbrev && !strcmp(abbrev, name)) return sig;
  }
  return -1;
}

/* ---- state --------------------------------------------------------------------------------- */

typedef struct exec_job {
  char *id;                 /* the request's id, as JSON text */
  pid_t pid;
  double started, deadline; /* monotonic seconds; deadline 0: none */
  int timed_out, status_known, status;
  int fd_out, fd_err, fd_in; /* -1 once closed */
  buf_t out, err, input;
  size_t input_off;
  struct exec_job *next;
} exec_job;

typedef struct spawned {
  pid_t pid;
  char *argv_json; /* the argv array, as JSON text */
  char *log;
  int exited, code, sig;
  struct spawned *next;
} spawned;

static int port_fd = -1;
static buf_t port_in, port_out;
static double port_retry_at;
static exec_job *jobs;
static spawned *spawned_head, *spawned_tail;
static int chld_pipe[2];

static void on_sigchld(int sig) {
  (void)sig;
  int saved = errno;
  (void)!write(chld_pipe[1], "x", 1);
  errno = saved;
}

static void send_line(buf_t *msg) {
  buf_add(&port_out, msg->p, msg->len);
  buf_adds(&port_out, "\n");
}

static void reply_ok(const char *id, const char *result) {
  buf_t m = {0};
  buf_addf(&m, "{\"id\":%s,\"ok\":true,\"result\":%s}", id, result);
  send_line(&m);
  buf_free(&m);
}

static void reply_err(const char *id, const char *error) {
  buf_t m = {0};
  buf_addf(&m, "{\"id\":%s,\"ok\":false,\"error\":", id);
  json_cstr(&m, error);
  buf_adds(&m, "}");
  send_line(&m);
  buf_free(&m);
}

/* ---- starting children ----------------------------------------------------------------------- */

/* argv from {argv:[...]} or {sh:"..."}; NULL-terminated, strings owned by the request. */
static char **command_of(const jv *req, char *err, size_t errn) {
  jv *a = jget(req, "argv");
  if (a && a->type == J_ARR && a->n > 0) {
    char **argv = calloc(a->n + 1, sizeof *argv);
    for (size_t i = 0; i < a->n; i++) {
      if (a->items[i].type != J_STR) {
        free(argv);
        snprintf(err, errn, "argv must be an array of strings");
        return NULL;
      }
      argv[i] = a->items[i].str;
    }
    return argv;
  }
  const char *sh = jstr(req, "sh");
  if (sh) {
    char **argv = calloc(4, sizeof *argv);
    argv[0] = "/bin/sh", argv[1] = "-c", argv[2] = (char *)sh;
    return argv;
  }
  snprintf(err, errn, "request needs argv or sh");
  return NULL;
}

enum { STDIO_PIPES, STDIO_LOG };

/* The "@unix-line SOCKET" built-in, run in the forked child: stdin to the socket, one reply line to stdout. */
static int unix_line(const char *path) {
  buf_t req = {0};
  char chunk[4096];
  for (;;) {
    ssize_t n = read(0, chunk, sizeof chunk);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    buf_add(&req, chunk, (size_t)n);
  }
  struct sockaddr_un sa = {.sun_family = AF_UNIX};
  if (!path || strlen(path) >= sizeof sa.sun_path) {
    fprintf(stderr, "@unix-line: bad socket path\n");
    return 2;
  }
  strcpy(sa.sun_path, path);
  int fd = socket(AF_UNIX, SOCK_STREAM, 0);
  if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof sa)) {
    fprintf(stderr, "cannot reach %s: %s\n", path, strerror(errno));
    return 1;
  }
  for (size_t off = 0; off < req.len;) {
    ssize_t n = write(fd, req.p + off, req.len - off);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      fprintf(stderr, "write to %s: %s\n", path, strerror(errno));
      return 1;
    }
    off += (size_t)n;
  }
  for (;;) {
    ssize_t n = read(fd, chunk, sizeof chunk);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      fprintf(stderr, "%s closed the connection without a reply line\n", path);
      return 1;
    }
    char *nl = memchr(chunk, '\n', (size_t)n);
    size_t take = nl ? (size_t)(nl - chunk) + 1 : (size_t)n;
    if (fwrite(chunk, 1, take, stdout) != take) return 1;
    if (nl) break;
  }
  fflush(stdout);
  return 0;
}

/*
 * fork + setsid + exec. The child's set-up or exec error comes back over a close-on-exec pipe,
 * so a missing program or a bad cwd is an error reply, not an exit code.
 */
static pid_t start_child(const jv *req, char **argv, int mode, const int pipes[3], const char *log, char *err, size_t errn) {
  int errp[2];
  if (pipe2(errp, O_CLOEXEC)) {
    snprintf(err, errn, "pipe: %s", strerror(errno));
    return -1;
  }
  pid_t pid = fork();
  if (pid < 0) {
    snprintf(err, errn, "fork: %s", strerror(errno));
    close(errp[0]), close(errp[1]);
    return -1;
  }
  if (pid == 0) {
    char msg[512] = "";
    setsid();
    signal(SIGCHLD, SIG_DFL);
    signal(SIGPIPE, SIG_DFL);
    jv *env = jget(req, "env");
    if (env && env->type == J_OBJ)
      for (size_t i = 0; i < env->n; i++)
        if (env->items[i].type == J_STR) setenv(env->keys[i], env->items[i].str, 1);
    if (mode == STDIO_PIPES) {
      dup2(pipes[0], 0), dup2(pipes[1], 1), dup2(pipes[2], 2);
    } else {
      int in = open("/dev/null", O_RDONLY);
      int out = open(log, O_WRONLY | O_CREAT | O_APPEND, 0644);
      if (in < 0 || out < 0) {
        snprintf(msg, sizeof msg, "open %s: %s", in < 0 ? "/dev/null" : log, strerror(errno));
        goto fail;
      }
      dup2(in, 0), dup2(out, 1), dup2(out, 2);
    }
    const char *cwd = jstr(req, "cwd");
    if (chdir(cwd ? cwd : "/")) {
      snprintf(msg, sizeof msg, "chdir %s: %s", cwd ? cwd : "/", strerror(errno));
      goto fail;
    }
    if (!strcmp(argv[0], "@unix-line")) {
      close(errp[1]); /* set-up is done: the parent stops waiting for an exec error */
      /* No exec closes the agent's descriptors here: among them are the write ends of other
       * jobs' stdin pipes, whose children would then never read EOF while this one runs. */
      if (syscall(SYS_close_range, 3U, ~0U, 0U)) for (int fd = 3; fd < 1024; fd++) close(fd);
      _exit(unix_line(argv[1]));
    }
    execvp(argv[0], argv);
    snprintf(msg, sizeof msg, "spawn %s failed: %s", argv[0], strerror(errno));
  fail:
    (void)!write(errp[1], msg, strlen(msg));
    _exit(127);
  }
  close(errp[1]);
  size_t got = 0;
  for (;;) {
    ssize_t n = read(errp[0], err + got, errn - 1 - got);
    if (n > 0 && got + (size_t)n < errn - 1) {
      got += (size_t)n;
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n > 0) got += (size_t)n;
    break;
  }
  close(errp[0]);
  err[got] = 0;
  if (got) {
    while (waitpid(pid, NULL, 0) < 0 && errno == EINTR) {
    }
    return -1;
  }
  return pid;
}

/* ---- operations --------------------------------------------------------------------------- */

static void op_exec(const jv *req, const char *id) {
  char err[600];
  char **argv = command_of(req, err, sizeof err);
  if (!argv) return reply_err(id, err);
  buf_t input = {0};
  const char *in64 = jstr(req, "inputB64");
  if (in64 && base64_decode(in64, &input)) {
    free(argv);
    buf_free(&input);
    return reply_err(id, "inputB64 is not base64");
  }
  int in[2], out[2], errp[2];
  if (pipe2(in, O_CLOEXEC) || pipe2(out, O_CLOEXEC) || pipe2(errp, O_CLOEXEC)) {
    snprintf(err, sizeof err, "pipe: %s", strerror(errno));
    free(argv);
    buf_free(&input);
    return reply_err(id, err);
  }
  int child_ends[3] = {in[0], out[1], errp[1]};
  pid_t pid = start_child(req, argv, STDIO_PIPES, child_ends, NULL, err, sizeof err);
  free(argv);
  close(in[0]), close(out[1]), close(errp[1]);
  if (pid < 0) {
    close(in[1]), close(out[0]), close(errp[0]);
    buf_free(&input);
    return reply_err(id, err);
  }
  exec_job *j = calloc(1, sizeof *j);
  j->id = strdup(id);
  j->pid = pid;
  j->started = mono_s();
  double t;
  if (jnum(req, "timeoutMs", &t) && t > 0) j->deadline = j->started + t / 1000;
  j->fd_out = out[0], j->fd_err = errp[0];
  fcntl(j->fd_out, F_SETFL, O_NONBLOCK);
  fcntl(j->fd_err, F_SETFL, O_NONBLOCK);
  if (input.len) {
    j->fd_in = in[1];
    fcntl(j->fd_in, F_SETFL, O_NONBLOCK);
    j->input = input;
  } else {
    close(in[1]);
    j->fd_in = -1;
    buf_free(&input);
  }
  j->next = jobs;
  jobs = j;
  /* Answered when the child has ended and its output is drained. */
}

static void op_spawn(const jv *req, const char *id) {
  char err[600];
  char **argv = command_of(req, err, sizeof err);
  if (!argv) return reply_err(id, err);
  char deflog[96];
  const char *log = jstr(req, "log");
  if (!log) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    snprintf(deflog, sizeof deflog, "/var/log/vmc/spawn-%lld.log", (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000);
    log = deflog;
  }
  pid_t pid = start_child(req, argv, STDIO_LOG, NULL, log, err, sizeof err);
  if (pid < 0) {
    free(argv);
    return reply_err(id, err);
  }
  spawned *s = calloc(1, sizeof *s);
  s->pid = pid;
  s->log = strdup(log);
  buf_t a = {0};
  buf_adds(&a, "[");
  for (size_t i = 0; argv[i]; i++) {
    if (i) buf_adds(&a, ",");
    json_cstr(&a, argv[i]);
  }
  buf_adds(&a, "]");
  s->argv_json = a.p;
  free(argv);
  if (spawned_tail) spawned_tail->next = s;
  else spawned_head = s;
  spawned_tail = s;
  buf_t r = {0};
  buf_addf(&r, "{\"pid\":%d,\"log\":", (int)pid);
  json_cstr(&r, log);
  buf_adds(&r, "}");
  reply_ok(id, r.p);
  buf_free(&r);
}

static void op_kill(const jv *req, const char *id) {
  double pidn;
  if (!jnum(req, "pid", &pidn) || pidn < 1 || pidn != floor(pidn)) return reply_err(id, "kill needs a positive integer pid");
  const char *name = jstr(req, "signal");
  if (!name) name = "SIGTERM";
  int sig = signal_number(name);
  char err[300];
  if (sig < 0) {
    snprintf(err, sizeof err, "unknown signal %s", name);
    return reply_err(id, err);
  }
  jv *group = jget(req, "group");
  pid_t target = (group && group->type == J_BOOL && !group->boolean) ? (pid_t)pidn : -(pid_t)pidn;
  if (kill(target, sig)) {
    snprintf(err, sizeof err, "kill %d %s: %s", (int)target, name, strerror(errno));
    return reply_err(id, err);
  }
  char sigtext[40];
  signal_name(sig, sigtext, sizeof sigtext);
  buf_t r = {0};
  buf_adds(&r, "{\"sent\":");
  json_cstr(&r, sigtext);
  buf_adds(&r, "}");
  reply_ok(id, r.p);
  buf_free(&r);
}

static void op_procs(const char *id) {
  buf_t r = {0};
  buf_adds(&r, "[");
  for (spawned *s = spawned_head; s; s = s->next) {
    if (s != spawned_head) buf_adds(&r, ",");
    buf_addf(&r, "{\"pid\":%d,\"argv\":%s,\"log\":", (int)s->pid, s->argv_json);
    json_cstr(&r, s->log);
    buf_addf(&r, ",\"exited\":%s,\"code\":", s->exited ? "true" : "false");
    if (s->exited && !s->sig) buf_addf(&r, "%d", s->code);
    else buf_adds(&r, "null");
    buf_adds(&r, ",\"signal\":");
    if (s->exited && s->sig) {
      char name[40];
      signal_name(s->sig, name, sizeof name);
      json_cstr(&r, name);
    } else buf_adds(&r, "null");
    buf_adds(&r, "}");
  }
  buf_adds(&r, "]");
  reply_ok(id, r.p);
  buf_free(&r);
}

static void op_read(const jv *req, const char *id) {
  const char *path = jstr(req, "path");
  if (!path) return reply_err(id, "read needs a path");
  char err[600];
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    snprintf(err, sizeof err, "open %s: %s", path, strerror(errno));
    return reply_err(id, err);
  }
  buf_t data = {0};
  for (;;) {
    buf_reserve(&data, 65536);
    ssize_t n = read(fd, data.p + data.len, 65536);
    if (n > 0) {
      data.len += (size_t)n;
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      snprintf(err, sizeof err, "read %s: %s", path, strerror(errno));
      close(fd);
      buf_free(&data);
      return reply_err(id, err);
    }
    break;
  }
  close(fd);
  buf_t r = {0};
  buf_adds(&r, "{\"dataB64\":");
  json_base64(&r, (unsigned char *)data.p, data.len);
  buf_adds(&r, "}");
  reply_ok(id, r.p);
  buf_free(&r);
  buf_free(&data);
}

static void op_write(const jv *req, const char *id) {
  const char *path = jstr(req, "path");
  if (!path) return reply_err(id, "write needs a path");
  double moden = 0644;
  int has_mode = jnum(req, "mode", &moden);
  buf_t data = {0};
  const char *d64 = jstr(req, "dataB64");
  if (d64 && base64_decode(d64, &data)) {
    buf_free(&data);
    return reply_err(id, "dataB64 is not base64");
  }
  char err[600] = "";
  int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, (mode_t)moden);
  if (fd < 0) snprintf(err, sizeof err, "open %s: %s", path, strerror(errno));
  for (size_t off = 0; fd >= 0 && !err[0] && off < data.len;) {
    ssize_t n = write(fd, data.p + off, data.len - off);
    if (n > 0) off += (size_t)n;
    else if (n < 0 && errno != EINTR) snprintf(err, sizeof err, "write %s: %s", path, strerror(errno));
  }
  if (fd >= 0 && !err[0] && has_mode && fchmod(fd, (mode_t)moden)) snprintf(err, sizeof err, "chmod %s: %s", path, strerror(errno));
  if (fd >= 0 && close(fd) && !err[0]) snprintf(err, sizeof err, "close %s: %s", path, strerror(errno));
  buf_free(&data);
  if (err[0]) return reply_err(id, err);
  reply_ok(id, "{}");
}

static void op_ping(const char *id) {
  char r[96];
  snprintf(r, sizeof r, "{\"uptimeMs\":%lld,\"ready\":%s}", (long long)llround(uptime_s() * 1000),
           access("/run/vmc-ready", F_OK) == 0 ? "true" : "false");
  reply_ok(id, r);
}

static void on_line(const char *line, size_t len) {
  size_t i = 0;
  while (i < len && (line[i] == ' ' || line[i] == '\t' || line[i] == '\r')) i++;
  if (i == len) return;
  jparser s = {line, line + len, 0};
  jv req = {0};
  int bad = parse_value(&s, &req);
  skip_ws(&s);
  if (bad || s.p != s.end || req.type != J_OBJ) {
    jv_free(&req);
    return reply_err("null", "bad json");
  }
  /* Echo the id back as the host sent it (a number or a string). */
  buf_t id = {0};
  jv *idv = jget(&req, "id");
  if (idv && idv->type == J_NUM) buf_addf(&id, "%.17g", idv->num);
  else if (idv && idv->type == J_STR) json_str(&id, idv->str, idv->len);
  else buf_adds(&id, "null");
  const char *op = jstr(&req, "op");
  if (!op) op = "";
  if (!strcmp(op, "ping")) op_ping(id.p);
  else if (!strcmp(op, "exec")) op_exec(&req, id.p);
  else if (!strcmp(op, "spawn")) op_spawn(&req, id.p);
  else if (!strcmp(op, "kill")) op_kill(&req, id.p);
  else if (!strcmp(op, "procs")) op_procs(id.p);
  else if (!strcmp(op, "read")) op_read(&req, id.p);
  else if (!strcmp(op, "write")) op_write(&req, id.p);
  else {
    char err[300];
    snprintf(err, sizeof err, "unknown op %s", op);
    reply_err(id.p, err);
  }
  buf_free(&id);
  jv_free(&req);
}

/* ---- exec completion ------------------------------------------------------------------------ */

static void finish_exec(exec_job *j) {
  buf_t r = {0};
  int st = j->status;
  if (WIFSIGNALED(st)) {
    char name[40];
    signal_name(WTERMSIG(st), name, sizeof name);
    buf_adds(&r, "{\"code\":null,\"signal\":");
    json_cstr(&r, name);
  } else {
    buf_addf(&r, "{\"code\":%d,\"signal\":null", WEXITSTATUS(st));
  }
  buf_addf(&r, ",\"timedOut\":%s,\"durationMs\":%lld,\"stdoutB64\":", j->timed_out ? "true" : "false",
           (long long)llround((mono_s() - j->started) * 1000));
  json_base64(&r, (unsigned char *)j->out.p, j->out.len);
  buf_adds(&r, ",\"stderrB64\":");
  json_base64(&r, (unsigned char *)j->err.p, j->err.len);
  buf_adds(&r, "}");
  reply_ok(j->id, r.p);
  buf_free(&r);
}

static void free_job(exec_job *j) {
  if (j->fd_in >= 0) close(j->fd_in);
  free(j->id);
  buf_free(&j->out);
  buf_free(&j->err);
  buf_free(&j->input);
  free(j);
}

static void reap_children(void) {
  int st;
  pid_t pid;
  while ((pid = waitpid(-1, &st, WNOHANG)) > 0) {
    for (exec_job *j = jobs; j; j = j->next)
      if (j->pid == pid) j->status_known = 1, j->status = st;
    for (spawned *s = spawned_head; s; s = s->next)
      if (s->pid == pid) {
        s->exited = 1;
        if (WIFSIGNALED(st)) s->sig = WTERMSIG(st);
        else s->code = WEXITSTATUS(st);
      }
  }
}

/* Drain what a pipe has; close it at end of file or on an error. */
static void drain(int *fd, buf_t *into) {
  for (;;) {
    buf_reserve(into, 65536);
    ssize_t n = read(*fd, into->p + into->len, 65536);
    if (n > 0) {
      into->len += (size_t)n;
      into->p[into->len] = 0;
      continue;
    }
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) return;
    close(*fd);
    *fd = -1;
    return;
  }
}

/* ---- main loop ---------------------------------------------------------------------------- */

static void stamp_boot_log(void) {
  FILE *f = fopen("/var/log/vmc/boot.log", "a");
  if (!f) return;
  fprintf(f, "%.2f agent-up\n", uptime_s());
  fclose(f);
}

int main(int argc, char **argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: %s PORT\n", argv[0]);
    return 2;
  }
  port_fd = open(argv[1], O_RDWR | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
  if (port_fd < 0) {
    fprintf(stderr, "open %s: %s\n", argv[1], strerror(errno));
    return 1;
  }
  /* A pty (the host-side tests) must pass bytes through untouched, like the virtio port does. */
  struct termios tio;
  if (tcgetattr(port_fd, &tio) == 0) {
    cfmakeraw(&tio);
    tcsetattr(port_fd, TCSANOW, &tio);
  }
  stamp_boot_log();
  if (pipe2(chld_pipe, O_CLOEXEC | O_NONBLOCK)) {
    perror("pipe");
    return 1;
  }
  struct sigaction sa = {0};
  sa.sa_handler = on_sigchld;
  sa.sa_flags = SA_RESTART | SA_NOCLDSTOP;
  sigaction(SIGCHLD, &sa, NULL);
  signal(SIGPIPE, SIG_IGN);

  buf_t hello = {0};
  buf_adds(&hello, "{\"event\":\"hello\"}");
  send_line(&hello);
  buf_free(&hello);

  for (;;) {
    double now = mono_s();
    size_t njobs = 0;
    for (exec_job *j = jobs; j; j = j->next) njobs++;
    struct pollfd *fds = calloc(2 + 3 * njobs, sizeof *fds);
    size_t nfds = 0;
    fds[nfds++] = (struct pollfd){.fd = chld_pipe[0], .events = POLLIN};
    int port_watched = now >= port_retry_at;
    fds[nfds++] = (struct pollfd){.fd = port_watched ? port_fd : -1, .events = (short)(POLLIN | (port_out.len ? POLLOUT : 0))};
    double timeout = 1;
    for (exec_job *j = jobs; j; j = j->next) {
      if (j->fd_out >= 0) fds[nfds++] = (struct pollfd){.fd = j->fd_out, .events = POLLIN};
      if (j->fd_err >= 0) fds[nfds++] = (struct pollfd){.fd = j->fd_err, .events = POLLIN};
      if (j->fd_in >= 0) fds[nfds++] = (struct pollfd){.fd = j->fd_in, .events = POLLOUT};
      if (j->deadline && !j->timed_out && j->deadline - now < timeout) timeout = j->deadline - now;
    }
    if (!port_watched && port_retry_at - now < timeout) timeout = port_retry_at - now;
    if (timeout < 0) timeout = 0;
    int n = poll(fds, nfds, (int)ceil(timeout * 1000));
    free(fds);
    if (n < 0 && errno != EINTR) {
      perror("poll");
      return 1;
    }
    char sink[64];
    while (read(chld_pipe[0], sink, sizeof sink) > 0) {
    }
    if (port_watched) {
      for (;;) {
        buf_reserve(&port_in, 65536);
        ssize_t got = read(port_fd, port_in.p + port_in.len, 65536);
        if (got > 0) {
          port_in.len += (size_t)got;
          port_in.p[port_in.len] = 0;
          continue;
        }
        /* 0 bytes or an error: the host end is not connected (yet, or any more). */
        if (!(got < 0 && (errno == EAGAIN || errno == EINTR))) port_retry_at = mono_s() + 0.1;
        break;
      }
      char *nl;
      while ((nl = memchr(port_in.p, '\n', port_in.len))) {
        size_t len = (size_t)(nl - port_in.p);
        char *line = strndup(port_in.p, len);
        buf_consume(&port_in, len + 1);
        on_line(line, len);
        free(line);
      }
      while (port_out.len && port_retry_at <= mono_s()) {
        ssize_t w = write(port_fd, port_out.p, port_out.len);
        if (w > 0) buf_consume(&port_out, (size_t)w);
        else if (w < 0 && errno == EINTR) continue;
        else {
          if (!(w < 0 && errno == EAGAIN)) port_retry_at = mono_s() + 0.1;
          break;
        }
      }
    }
    for (exec_job *j = jobs; j; j = j->next) {
      if (j->fd_out >= 0) drain(&j->fd_out, &j->out);
      if (j->fd_err >= 0) drain(&j->fd_err, &j->err);
      while (j->fd_in >= 0) {
        ssize_t w = write(j->fd_in, j->input.p + j->input_off, j->input.len - j->input_off);
        if (w > 0) j->input_off += (size_t)w;
        else if (w < 0 && (errno == EAGAIN || errno == EINTR)) break;
        if (w <= 0 || j->input_off == j->input.len) {
          close(j->fd_in);
          j->fd_in = -1;
        }
      }
    }
    reap_children();
    now = mono_s();
    for (exec_job **pj = &jobs; *pj;) {
      exec_job *j = *pj;
      if (j->deadline && !j->timed_out && now >= j->deadline) {
        j->timed_out = 1;
        /* The whole session: the child called setsid(), so its pid is its group's id. */
        if (kill(-j->pid, SIGKILL)) kill(j->pid, SIGKILL);
      }
      if (j->status_known && j->fd_out < 0 && j->fd_err < 0) {
        finish_exec(j);
        *pj = j->next;
        free_job(j);
      } else {
        pj = &j->next;
      }
    }
  }
}
