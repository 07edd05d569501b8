/*
 * proto.h (private to tunnel/): the ngrok binding header.
 *
 * After the mTLS handshake the client sends one frame, the server answers
 * with one frame, then the connection is a raw byte pipe.  A frame is a
 * uint16 little-endian payload length followed by that many bytes of
 * protobuf:
 *
 *   ConnRequest  { 1: host string, 2: port int64 }
 *   ConnResponse { 1: endpoint_id string, 2: proto string,
 *                  3: error_code string, 4: error_message string,
 *                  5: repeated Notice { 1: message string } }
 *
 * Hand-written protobuf: the decoders never allocate, check every length
 * against what is left, skip unknown fields of wire types 0, 1, 2 and 5, and
 * reject groups (3, 4), invalid wire types, field number 0, varints longer
 * than 10 bytes and anything truncated (-EBADMSG).  Decoded strings are
 * NUL-terminated, sanitized for logging (control characters and invalid
 * UTF-8 become '?') and cut at a character boundary when longer than their
 * field (then ->truncated is set).  A field seen twice keeps the last value,
 * as protobuf does; a known field number with an unexpected wire type is
 * treated as unknown, as protobuf does.
 */
#ifndef NGROKD_TUNNEL_PROTO_H
#define NGROKD_TUNNEL_PROTO_H

#include <stddef.h>
#include <stdint.h>

#define PROTO_HOST_MAX		253	/* DNS name, bytes */
#define PROTO_FRAME_HDR		2	/* uint16 LE length */
#define PROTO_MAX_NOTICES	8

struct proto_conn_request {
	char		host[PROTO_HOST_MAX + 1];
	int64_t		port;		/* as sent, unchecked; 0 if absent */
	int		truncated;	/* host was longer than the field */
};

struct proto_conn_response {
	char		endpoint_id[128];
	char		proto[32];
	char		error_code[64];
	char		error_message[512];
	char		notices[PROTO_MAX_NOTICES][256];
	size_t		n_notices;
	int		truncated;	/* a string or a notice did not fit */
};

/*
 * Writes the framed ConnRequest for host (the bare host name: no ":port",
 * 1..253 bytes) and port (1..65535) to out.  Returns the bytes written,
 * prefix included, -EINVAL for a bad host or port, -EMSGSIZE when cap is
 * too small.
 */
int	proto_conn_request_encode(uint8_t *out, size_t cap, const char *host,
	    int64_t port);

/*
 * Decodes a ConnRequest payload (without the length prefix) into r.
 * 0 or -EBADMSG / -EINVAL.  The host is not validated (the fake ingress
 * logs what it got); port is the raw int64.
 */
int	proto_conn_request_decode(const uint8_t *msg, size_t len,
	    struct proto_conn_request *r);

/*
 * Looks at the first len bytes received: 0 if more are needed, the size of
 * the whole frame (prefix + payload) once buf holds it, -EMSGSIZE as soon as
 * the announced payload length exceeds max (before it has arrived).
 */
int	proto_frame_need(const uint8_t *buf, size_t len, size_t max);

/*
 * Decodes a ConnResponse payload (without the length prefix) into r, which
 * is cleared first.  0 or -EBADMSG / -EINVAL.
 */
int	proto_conn_response_decode(const uint8_t *msg, size_t len,
	    struct proto_conn_response *r);

/* 1 when the ingress refused (non-empty error_code or error_message). */
int	proto_conn_response_refused(const struct proto_conn_response *r);

/*
 * Writes r as a framed ConnResponse (empty strings omitted, n_notices
 * notices).  Bytes written or -EMSGSIZE / -EINVAL.  Used by the fake
 * ingress and the tests.
 */
int	proto_conn_response_encode(uint8_t *out, size_t cap,
	    const struct proto_conn_response *r);

#endif
