/* SPDX-License-Identifier: MIT */
/*
 * The peer protocol between clondiked daemons (docs/protocol.md): framing,
 * the authenticated handshake, the sealed channel and the messages.
 *
 * A connection carries frames: a 32-bit little-endian body length, then the
 * body.  Each side's first frame is a plaintext HELLO; every later frame is
 * sealed with an AEAD whose keys come from the handshake and the cluster
 * key, and whose nonce is the frame's sequence number in that direction, so
 * a tampered, reordered, replayed or foreign frame fails to open.  The first
 * sealed frame each way is AUTH (the handshake transcript hash), which
 * proves the sender holds the cluster key.
 *
 * All nodes are x86_64 Linux: integers are little-endian, errno values are
 * Linux's.
 */
#ifndef CLONDIKE_PROTO_H
#define CLONDIKE_PROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "clondike/config.h"
#include "clondike/err.h"

_Static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "the wire format is little-endian");

#define CLDP_MAGIC "CLDK"
#define CLDP_VERSION 1
#define CLDP_TAG_BYTES 16
/* Largest frame body accepted: a READ response of CLDP_READ_MAX plus room. */
#define CLDP_READ_MAX (1u << 20)
#define CLDP_FRAME_MAX (CLDP_READ_MAX + 4096)

/* HELLO flags */
#define CLDP_HF_AES256GCM 0x1 /* this side can do AES-256-GCM (AES-NI) */

struct cldp_hello {
	char magic[4]; /* "CLDK" */
	uint16_t version; /* CLDP_VERSION */
	uint16_t flags; /* CLDP_HF_* */
	char node[CLD_NODE_NAME_MAX]; /* sender's name, NUL padded */
	uint8_t nonce[32];
	uint8_t epk[32]; /* ephemeral X25519 public key */
} __attribute__((packed));

enum cldp_aead {
	CLDP_AEAD_CHACHA20POLY1305, /* IETF variant; always available */
	CLDP_AEAD_AES256GCM, /* when both sides have AES-NI */
};

/*
 * One direction-pair of a sealed channel.  Frames are sealed with OpenSSL's
 * EVP AEADs (several times the throughput of libsodium 1.0.18's on this
 * kind of machine); the handshake uses libsodium.  Each channel has its own
 * cipher context each way (OpenSSL's EVP_CIPHER_CTX), made on first use.
 */
struct evp_cipher_ctx_st;

struct cldp_chan {
	enum cldp_aead aead;
	uint8_t tx_key[32], rx_key[32];
	uint64_t tx_seq, rx_seq; /* next sequence number each way */
	struct evp_cipher_ctx_st *ctx[2]; /* [0] opens, [1] seals */
};

/* Free the cipher contexts and wipe the keys. */
void cldp_chan_free(struct cldp_chan *ch);

struct cldp_hs {
	bool initiator;
	uint8_t psk[CLD_KEY_BYTES];
	uint8_t esk[32];
	struct cldp_hello mine, theirs;
	uint8_t transcript[32]; /* BLAKE2b-256 of both HELLOs, initiator's first */
};

/* One-time libsodium setup; 0 or -EIO. */
int cldp_crypto_init(void);

/* Fill hs->mine (fresh nonce and ephemeral key) for node. */
void cldp_hs_start(struct cldp_hs *hs, bool initiator, const char *node,
		   const uint8_t psk[CLD_KEY_BYTES]);

/*
 * Take the peer's HELLO frame body.  -EPROTO when it is not a HELLO (size,
 * magic, name), -EPROTONOSUPPORT when the peer speaks another version (err
 * says which).  On success the channel's keys and cipher are set and
 * hs->transcript holds what each side seals as its AUTH frame.  *ch is
 * overwritten: one that sealed or opened frames is freed first.
 */
int cldp_hs_finish(struct cldp_hs *hs, const void *body, size_t len, struct cldp_chan *ch,
		   struct cld_err *err);

/*
 * Seal len bytes at buf in place and append the tag (buf must have room for
 * len + CLDP_TAG_BYTES).  Advances tx_seq.  0, or -ENOMEM / -EIO when the
 * cipher cannot be set up.  One thread at a time per channel (its cipher
 * context is reused).
 */
int cldp_seal(struct cldp_chan *ch, uint8_t *buf, size_t len);
/*
 * Open a sealed body of len bytes in place; on success the plaintext is the
 * first len - CLDP_TAG_BYTES bytes and rx_seq advances.  -EBADMSG when the
 * frame was tampered with, replayed, reordered or sealed with another key.
 */
int cldp_open(struct cldp_chan *ch, uint8_t *buf, size_t len);

/* ---- Frame reassembly ---------------------------------------------------- */

struct cldp_rx {
	uint8_t *buf;
	size_t len, cap; /* bytes held, allocated */
	size_t off; /* start of the first unconsumed frame */
};

/* Room for the next read: at least min bytes (the rest of a frame being
 * received when known).  NULL on ENOMEM. */
uint8_t *cldp_rx_space(struct cldp_rx *rx, size_t min, size_t *avail);
/* Account n bytes just read into the space. */
void cldp_rx_commit(struct cldp_rx *rx, size_t n);
/*
 * The next complete frame: 1 with *body and *len set (valid until the next
 * call of any cldp_rx_* function), 0 when more bytes are needed, -EMSGSIZE
 * when the announced length exceeds max.
 */
int cldp_rx_next(struct cldp_rx *rx, size_t max, uint8_t **body, size_t *len);
void cldp_rx_free(struct cldp_rx *rx);

/* ---- Messages (the plaintext of sealed frames) ---------------------------- */

enum cldp_type {
	CLDP_AUTH = 1, /* body: the transcript hash; first sealed frame */
	CLDP_PING, /* req: u64 sender clock (ns); resp: the same */
	CLDP_LIST, /* req: cldp_cred; resp: n x cldp_pentry */
	CLDP_STAT, /* req: cldp_pid_req; resp: cldp_pentry */
	CLDP_OPEN, /* req: cldp_pid_req; resp: cldp_open_resp (freezes) */
	CLDP_READ, /* req: cldp_read_req; resp: the bytes (short at EOF) */
	CLDP_SEEK, /* req: cldp_seek_req; resp: u64 offset */
	CLDP_CLOSE, /* message: u64 handle; no response (thaws) */
	CLDP_XATTR, /* req: cldp_xattr_req; resp: the value */
	CLDP_MIGRATE, /* to the home node: req cldp_migrate_req; resp cldp_migrate_resp */
	CLDP_RESTORE, /* home to target: req cldp_restore_req; resp cldp_migrate_resp */
	CLDP_SIGNAL, /* home to target: req cldp_signal_req; resp status only */
	CLDP_GUEST, /* target to home: req cldp_guest_req; resp status only */
	CLDP_FWD_DATA, /* message: cldp_fwd_hdr + bytes; no response */
	CLDP_FWD_ACK, /* message: cldp_fwd_ack; no response */
	CLDP_FWD_TTY, /* message: cldp_fwd_tty; no response */
	CLDP_PUT, /* req: cldp_put_req; resp: u64 handle (an image to restart) */
	CLDP_PUT_DATA, /* req: cldp_put_data + bytes; resp status only */
	CLDP_PUT_END, /* req: cldp_put_end; resp: cldp_put_resp (restarted) */
	CLDP_COMMIT, /* home to target: req cldp_commit_req; resp status only */
	CLDP_QUERY, /* target to home: req cldp_commit_req; resp status only */
	CLDP_FWD_RESYNC, /* message: cldp_fwd_resync; no response */
	CLDP_FILE, /* req: cldp_file_req (+ bytes); resp: by its op */
	CLDP_TYPE_MAX,
};

#define CLDP_F_RESP 0x1 /* a response to request id */

struct cldp_hdr {
	uint16_t type;
	uint16_t flags;
	uint32_t id; /* request id, echoed by the response; 0 for messages */
	int32_t status; /* responses: 0 or a negative errno */
	uint32_t len; /* payload bytes after the header */
} __attribute__((packed));

/* The caller on the requesting node: the server applies its local rules. */
struct cldp_cred {
	uint32_t uid, gid;
} __attribute__((packed));

struct cldp_pid_req {
	struct cldp_cred cred;
	int32_t pid;
	uint32_t pad;
	uint64_t start_ticks; /* 0: whichever process has pid now */
} __attribute__((packed));

#define CLDP_PE_FROZEN 0x1
/* The serving node's /proc has hidepid=: the entry is the asking user's
 * view, not to be cached for anybody else (older nodes ignore the flag). */
#define CLDP_PE_NOCACHE 0x2

struct cldp_pentry {
	int32_t pid;
	uint32_t uid, gid;
	uint8_t state; /* /proc state letter */
	uint8_t flags; /* CLDP_PE_* */
	uint16_t pad;
	uint64_t start_ticks;
	uint64_t size, data_bytes; /* exact when frozen, estimates otherwise */
	uint64_t mtime_ns;
} __attribute__((packed));

struct cldp_open_resp {
	uint64_t handle; /* the server's, valid on this connection only */
	uint64_t freeze_id; /* same value while the same freeze lasts */
	uint64_t size, data_bytes;
	uint64_t frozen_ns;
	uint64_t start_ticks;
} __attribute__((packed));

struct cldp_read_req {
	uint64_t handle;
	uint64_t off;
	uint32_t len; /* at most CLDP_READ_MAX */
	uint32_t pad;
} __attribute__((packed));

struct cldp_seek_req {
	uint64_t handle;
	int64_t off;
	int32_t whence; /* SEEK_DATA or SEEK_HOLE */
	uint32_t pad;
} __attribute__((packed));

struct cldp_xattr_req {
	struct cldp_cred cred;
	int32_t pid;
	uint32_t pad;
	char name[64]; /* without the "user.clondike." prefix */
} __attribute__((packed));

/* Move pid (of the receiving node) to node target, for cred. */
struct cldp_migrate_req {
	struct cldp_cred cred;
	int32_t pid;
	uint32_t pad;
	uint64_t start_ticks;
	char target[64]; /* NUL terminated node name */
} __attribute__((packed));

/* An fd of the process the target relays home (docs/shadow.md). */
struct cldp_fwd_ent {
	int32_t fd;
	uint32_t chan; /* the home's channel */
	uint32_t kind; /* 1 home to guest, 2 guest to home, 3 both, 4 a terminal */
	uint32_t pad;
} __attribute__((packed));

#define CLDP_FWD_MAX 16

/* A terminal's settings: struct termios and struct winsize, as x86-64
 * Linux lays them out (both sides are). */
struct cldp_tty {
	uint8_t termios[60];
	uint16_t ws[4];
	uint32_t valid; /* 1: the process has a forwarded terminal */
	uint32_t pad;
} __attribute__((packed));

/* Restore the sender's pid here, lazily from the sender's image. */
struct cldp_restore_req {
	struct cldp_cred cred;
	int32_t pid;
	uint32_t pad;
	uint64_t start_ticks;
	uint64_t freeze_id;
	uint64_t epoch; /* the home daemon's (cldp_commit_req) */
	uint32_t nr_fwd;
	uint32_t pad2;
	struct cldp_fwd_ent fwd[CLDP_FWD_MAX];
	struct cldp_tty tty; /* of the terminal among fwd (kind 4) */
} __attribute__((packed));

/* Bytes of a forwarded fd; flags CLDP_FWD_*.  The payload follows. */
struct cldp_fwd_hdr {
	uint32_t chan;
	uint32_t flags;
} __attribute__((packed));

/* Bytes written out (the window they free), or GONE. */
struct cldp_fwd_ack {
	uint32_t chan;
	uint32_t flags;
	uint32_t bytes;
	uint32_t pad;
} __attribute__((packed));

/*
 * After a reconnect, for each forwarded fd the link's loss left waiting:
 * what this side has received of the channel's bytes and written out of
 * them.  The other side sends again what came after received, and counts
 * its window from written.  CLDP_FWD_GONE: no such channel here (the
 * daemon restarted): the fd is closed.
 */
struct cldp_fwd_resync {
	uint32_t chan;
	uint32_t flags; /* CLDP_FWD_TO_HOME, CLDP_FWD_GONE */
	uint64_t received, written;
} __attribute__((packed));

/* A forwarded terminal changed: the guest's settings (to home), the
 * window's size (to the guest). */
struct cldp_fwd_tty {
	uint32_t chan;
	uint32_t flags; /* CLDP_FWD_TO_HOME, CLDP_FWD_TIOS, CLDP_FWD_WS */
	struct cldp_tty tty;
} __attribute__((packed));

#define CLDP_FWD_TIOS 0x10
#define CLDP_FWD_WS 0x20
#define CLDP_FWD_SIG 0x40 /* to home: a signal key (tty.pad: the signal) */
#define CLDP_FWD_EOF 0x1 /* no more bytes this way */
#define CLDP_FWD_TO_HOME 0x2 /* for the home's channel (else the guest's) */
#define CLDP_FWD_GONE 0x4 /* ack: the fd's reader is gone: stop sending */
#define CLDP_FWD_CHUNK_MAX (64u << 10)

struct cldp_migrate_resp {
	int32_t pid; /* the guest's pid on the target */
	uint32_t flags; /* CLDP_MF_* */
	uint64_t restore_ns; /* the restore on the target, freeze to running */
	/* Its parts (ns), for the home's log: the image's open on the
	 * target, the restore's prepare, map and fill phases, and the
	 * restore worker's whole life (spawn to answer). */
	uint64_t open_ns, prep_ns, map_ns, fill_ns, worker_ns;
} __attribute__((packed));

/*
 * The commit of a migration (docs/migration.md): the target holds its
 * restored guest stopped until the home, having made the original its
 * shadow, sends COMMIT (0: it runs; -ESRCH: no such held guest).  A target
 * that hears nothing asks with QUERY: 0 means committed (it runs),
 * -ESRCH aborted (it is killed).  epoch names the home daemon that made
 * the decision: another one (restarted since) answers from whether the
 * original still exists.
 */
struct cldp_commit_req {
	int32_t home_pid;
	int32_t guest_pid;
	uint64_t start_ticks; /* the original's */
	uint64_t epoch;
} __attribute__((packed));

/* A signal sent to a shadow, for its guest. */
struct cldp_signal_req {
	int32_t home_pid; /* the shadow */
	int32_t guest_pid; /* its guest on the receiver */
	int32_t sig;
	uint32_t pad;
} __attribute__((packed));

/* What became of a guest (waitid's si_code and si_status), for its shadow. */
struct cldp_guest_req {
	int32_t home_pid; /* its shadow on the receiver */
	int32_t guest_pid;
	int32_t code; /* CLD_EXITED, CLD_KILLED, CLD_DUMPED, CLD_STOPPED, CLD_CONTINUED */
	int32_t status; /* exit code or signal */
} __attribute__((packed));

#define CLDP_MF_SAME_PID 0x1 /* the guest kept the home pid */
#define CLDP_MF_LAZY 0x2 /* memory is paged in from home */

/*
 * An image file written into the receiver's directory on another node
 * (`cp job.core /clondike/B/`): PUT opens a buffer on the receiver as
 * cred, PUT_DATA fills it, PUT_END sets its size and, with
 * CLDP_PUT_RESTART, restarts it there as cred and answers with the pid.
 * The handle is valid on its connection only: when the connection goes,
 * so do its buffers.
 */
struct cldp_put_req {
	struct cldp_cred cred;
	char name[64]; /* the file's name at the writer, NUL terminated (logs) */
} __attribute__((packed));

#define CLDP_PUT_CHUNK_MAX CLDP_READ_MAX

struct cldp_put_data {
	uint64_t handle;
	uint64_t off; /* where the bytes that follow go (up to a chunk) */
} __attribute__((packed));

#define CLDP_PUT_RESTART 0x1 /* else: drop the buffer */

struct cldp_put_end {
	uint64_t handle;
	uint64_t size; /* of the image */
	uint32_t flags; /* CLDP_PUT_* */
	uint32_t pad;
} __attribute__((packed));

struct cldp_put_resp {
	int32_t pid; /* the restarted process, on the receiver */
	uint32_t flags; /* CLDP_MF_SAME_PID */
} __attribute__((packed));

/*
 * An operation on a regular file a process holds open at the receiver,
 * for a guest on the sender that cannot open that file itself
 * (docs/shadow.md, "Forwarded files").  The receiver does it on the
 * process's own open file (pidfd_getfd), for cred: root, or the owner the
 * process's image would allow.
 */
enum cldp_file_op {
	CLDP_FILE_STAT = 1, /* resp: cldp_file_stat */
	CLDP_FILE_READ,	    /* pread of len bytes at off; resp: the bytes */
	CLDP_FILE_WRITE,    /* pwrite of the len bytes that follow, at off; resp: u64 written */
	CLDP_FILE_TRUNC,    /* ftruncate to off; resp: cldp_file_stat */
	CLDP_FILE_SYNC,	    /* fsync (len 1: fdatasync); resp: status only */
	CLDP_FILE_OP_MAX,
};

struct cldp_file_req {
	struct cldp_cred cred;
	int32_t pid;
	int32_t fd;
	uint32_t op; /* CLDP_FILE_* */
	uint32_t len;
	uint64_t off;
} __attribute__((packed));

struct cldp_file_stat {
	uint64_t size, blocks; /* st_blocks: 512-byte units */
	uint64_t mtime_ns, ctime_ns;
	uint32_t uid, gid; /* the process's owner */
	uint32_t flags; /* the open file's status flags (O_ACCMODE, O_APPEND...) */
	uint32_t pad;
} __attribute__((packed));

/* A short name of a message type for logs ("READ"), "?" if unknown. */
const char *cldp_type_name(unsigned int type);

/*
 * Check a received plaintext: header present, len consistent, known type,
 * payload size right for the type and direction.  0 or -EPROTO (err set).
 */
int cldp_msg_check(const uint8_t *msg, size_t len, struct cld_err *err);

#endif /* CLONDIKE_PROTO_H */
