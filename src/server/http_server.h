#pragma once
// The HTTP/1.1 server core shared by the emulator and the gateway. Asio and Beast stay inside
// http_server.cc (they cost ~12 s of compile time per translation unit): callers see only the
// request, response and reply-handle types below.
//
// Model (Boost.Beast's advanced server): one Session per connection on its own strand, no thread
// per connection; `threads` I/O threads run every session. A request is handed to the Handler
// together with a Responder; the handler replies at once, later from any thread (a timer, a worker
// pool), by streaming chunks over time, or not at all (stall, reset) for fault injection.
// Responses leave each connection in request order, pipelined requests included.
//
// Memory per idle keep-alive connection is about 2.5 KiB of heap (measured by
// IdleConnectionsAreCheap in http_server_test.cc: the session with its parser, a 512-byte read
// buffer, its timer, strand and the pending read), plus the kernel's socket buffers. 10,000 idle
// connections cost ~25 MiB and 10,000 file descriptors (raise RLIMIT_NOFILE).

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "quotaflow/clock.h"
#include "quotaflow/error.h"
#include "quotaflow/headers.h"

namespace quotaflow::server {

// Header fields in wire order, duplicates kept, names with the case they were sent with.
using quotaflow::FindHeader;
using quotaflow::Headers;

struct ServerRequest {
  std::string method;  // as received, e.g. "POST"
  // Origin-form path and query exactly as received, never decoded: SigV4 verification re-encodes
  // these very bytes, so "%3A" stays "%3A".
  std::string target;
  int version = 11;  // 11 = HTTP/1.1, 10 = HTTP/1.0
  Headers headers;
  std::string body;            // de-chunked if the client sent it chunked
  std::string remote_address;  // "127.0.0.1:54321" or "[::1]:54321"
};

struct ServerResponse {
  int status = 200;
  // Sent in this order. The server owns framing: Content-Length and Transfer-Encoding given here
  // are replaced, and a "Connection: close" here closes the connection after this response.
  Headers headers;
  // Not sent for HEAD requests and 204/304 responses.
  std::string body;
};

namespace internal {
class Reply;       // one request's reply state, defined in http_server.cc
class ServerCore;  // the io_context, acceptor and session registry, defined in http_server.cc
}  // namespace internal

// The body of a streamed (chunked) response, started by Responder::StartStream. A copyable handle:
// every copy refers to the same response. If the last copy (and the Responder's) is dropped before
// Finish, the connection is closed after the chunks already queued, without the terminating chunk,
// so that the client sees a truncated response rather than a complete-looking one.
// Thread safety: every method is safe from any thread. Chunks from one thread are sent in call
// order; between threads, in the order their calls reach the session. A chunk sent concurrently
// with Finish from another thread may be dropped.
class ResponseStream {
 public:
  // A stream that is already closed: Send and Finish return false.
  ResponseStream() = default;

  // Queues `chunk` (an empty chunk is a no-op). Returns false if the response is finished or the
  // connection is closed or closing; `true` means queued, not delivered. If the client reads so
  // slowly that more than Options::max_stream_buffer_bytes wait unsent, the connection is closed
  // (a consumer that slow has gone) and Send returns false.
  bool Send(std::string chunk) const;
  // Ends the response (the terminating zero-length chunk). Returns false if it was already
  // finished or the connection is closed.
  bool Finish() const;
  // Closes the connection abortively (TCP RST) now: fault injection of a mid-stream reset.
  void Reset() const;
  // Payload bytes handed to Send and not yet written to the socket: back-pressure for a producer
  // that paces itself (an event stream should wait while this grows).
  size_t queued_bytes() const;
  // True once the connection is closed or closing; every later Send returns false.
  bool closed() const;

 private:
  friend class Responder;
  explicit ResponseStream(std::shared_ptr<internal::Reply> reply) : reply_(std::move(reply)) {}

  std::shared_ptr<internal::Reply> reply_;
};

// How a handler replies to one request. A copyable handle (capture it in a timer or hand it to
// another thread); the first of Respond, StartStream, Reset and Stall wins and the others are
// ignored. If every copy is dropped without a reply, the client gets a 500, so that a forgotten
// request fails loudly instead of hanging.
// Thread safety: every method is safe from any thread.
class Responder {
 public:
  // Sends a complete response. Returns false if a reply was already chosen or the connection is
  // known to be closed; `true` means queued, not delivered.
  bool Respond(ServerResponse response) const;
  // Starts a streamed response: the status and headers now, the body later through the returned
  // stream (chunked transfer encoding; for an HTTP/1.0 client, a body ended by closing the
  // connection). Returns a closed stream if a reply was already chosen.
  ResponseStream StartStream(int status, Headers headers) const;
  // Closes the connection abortively (TCP RST) without a response: the client sees "connection
  // reset". Responses still queued on the connection are lost too.
  void Reset() const;
  // Never responds: the connection stays open and silent (no read timeout applies while a request
  // is outstanding) until the client gives up and closes, or the server stops. Later pipelined
  // requests on the connection wait behind it forever.
  void Stall() const;
  // True once the connection is closed or closing (for example, the client hung up while the
  // handler was computing): the handler may stop working on the request.
  bool closed() const;

 private:
  friend class internal::ServerCore;
  explicit Responder(std::shared_ptr<internal::Reply> reply) : reply_(std::move(reply)) {}

  std::shared_ptr<internal::Reply> reply_;
};

// Thread safety: every method is safe from any thread, except that Stop and the destructor must
// not run on an I/O thread (inside a handler, a Post or a RunAfter callback): they wait for those
// threads to finish.
class HttpServer {
 public:
  struct Options {
    // Address to listen on; "0.0.0.0" or "::" to serve other machines.
    std::string address = "127.0.0.1";
    // 0 picks a free port; port() then reports it.
    uint16_t port = 0;
    // I/O threads. Each runs handlers, so a handler must not block: hand slow work to another
    // thread and reply from there. One thread serves thousands of connections; more help only
    // when handlers or TLS-free parsing of large bodies saturate it.
    int threads = 1;
    // How long a connection may wait for a request while nothing is outstanding on it: idle
    // keep-alive time, and the time to receive a whole request (header and body) once the client
    // has started sending one. An idle connection is then closed; a half-received request gets
    // 408 and a close. No timeout applies while a response is being prepared. 0 = none. Too long
    // holds sockets of vanished clients; too short closes connections a client wanted to reuse
    // (the AWS SDKs keep idle connections for up to a minute).
    Duration read_timeout = std::chrono::seconds(60);
    // Longest time one socket write may take (a client that stops reading). The connection is
    // then reset. 0 = none.
    Duration write_timeout = std::chrono::seconds(60);
    // Request line plus header fields; above it: 431. Beast's default is 8 KiB; SigV4-signed
    // requests with session tokens reach ~3 KiB.
    size_t max_header_bytes = size_t{16} << 10;
    // Request body (after de-chunking); above it: 413 and a close. 25 MiB: Bedrock's InvokeModel
    // request limit. A connection holds at most max_pipelined bodies.
    size_t max_body_bytes = size_t{25} << 20;
    // Open connections; a connection accepted beyond this is closed at once (the client sees an
    // empty reply) instead of queueing unseen in the listen backlog.
    size_t max_connections = 16384;
    // Requests read ahead and outstanding on one connection (HTTP/1.1 pipelining). Reading pauses
    // at this many, so a pipelining client cannot make one connection hold unbounded memory.
    size_t max_pipelined = 8;
    // Unsent bytes a streamed response may queue (see ResponseStream::Send).
    size_t max_stream_buffer_bytes = size_t{4} << 20;
    // How long Stop lets in-flight responses finish before it closes their connections.
    Duration stop_grace = std::chrono::seconds(10);
    // Receives one line per unexpected error (a failed accept, a handler that threw); routine
    // client behaviour (hang-ups, resets, timeouts, malformed requests) is not logged. Called
    // from I/O threads, possibly concurrently. Empty = silent.
    std::function<void(std::string_view line)> log;
  };

  // Runs on an I/O thread for every request, concurrently for different connections when
  // threads > 1. Must return quickly (see Options::threads) and reply through `responder`.
  using Handler = std::function<void(ServerRequest request, Responder responder)>;

  HttpServer(Options options, Handler handler);
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;
  // Stop(), then frees the server. Responders and streams still held elsewhere stay safe to use
  // (they report closed).
  ~HttpServer();

  // Binds, listens and starts the I/O threads. Errors: kInvalidArgument for a bad address or a
  // second Start, kIo when the address cannot be bound (in use, no permission).
  Status Start();

  // Graceful shutdown: stops accepting, closes idle connections, lets requests already received
  // finish (their responses carry "Connection: close") for up to Options::stop_grace, then closes
  // whatever remains, cancels pending RunAfter callbacks (they never run) and joins the I/O
  // threads. Idempotent; also fine on a server that never started.
  void Stop();

  // The bound port (after a successful Start), 0 before.
  uint16_t port() const;

  // Runs `fn` on an I/O thread soon. Returns false, dropping `fn` unrun, once Stop has passed its
  // grace period. Before Start, `fn` runs once the threads start.
  bool Post(std::function<void()> fn);
  // Runs `fn` on an I/O thread once `delay` has passed, without holding any thread meanwhile (the
  // emulator's latency model delays responses with it). Returns false, dropping `fn`, once Stop
  // has passed its grace period; a callback still pending then is dropped unrun.
  bool RunAfter(Duration delay, std::function<void()> fn);

  // Connections currently open (for tests and metrics).
  size_t open_connections() const;

 private:
  std::shared_ptr<internal::ServerCore> core_;  // shared with the sessions; never null
};

}  // namespace quotaflow::server
