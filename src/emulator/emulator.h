#pragma once
// The Bedrock emulator: bedrock-runtime (InvokeModel, InvokeModelWithResponseStream, Converse,
// ConverseStream, CountTokens), the bedrock control plane's inference profiles, Service Quotas and
// CloudWatch, on one HTTP port, with SigV4 and bearer auth, quotas charged as Bedrock charges them
// (quota_books.h), a latency model and seeded faults. `quotaflow emulate` runs one; tests start
// one on port 0.
//
// Requests are told apart as AWS tells them apart: awsJson calls by X-Amz-Target
// (ServiceQuotasV20190624.*, GraniteServiceVersion20100801.*), the rest by path (/model/...,
// /inference-profiles...), and `GET /_quotaflow/state` returns the books as JSON.
//
// Thread safety: Start, Stop and the destructor from one thread (not an I/O thread); the rest from
// any thread.

#include <cstdint>
#include <memory>
#include <string>

#include "emulator/options.h"
#include "quotaflow/clock.h"
#include "quotaflow/error.h"

namespace quotaflow::emulator {

class EmulatorImpl;  // emulator.cc

class Emulator {
 public:
  // REQUIRES: `clock` outlives the emulator. Its wall time dates SigV4 checks and metrics; its
  // steady time drives the books, the latency model and increase decisions.
  explicit Emulator(EmulatorOptions options, const Clock& clock = SystemClock());
  Emulator(const Emulator&) = delete;
  Emulator& operator=(const Emulator&) = delete;
  ~Emulator();

  // Validates the options, loads the model catalog, binds and starts serving. kInvalidArgument
  // naming the bad option (an application profile's copy_from included: see
  // ApplicationProfiles::Create); kIo when the catalog cannot be read or the port bound.
  Status Start();
  // Graceful: in-flight requests finish (up to the server's grace), then the port closes.
  void Stop();
  uint16_t port() const;
  // "http://127.0.0.1:<port>".
  std::string endpoint() const;

  // What GET /_quotaflow/state returns: per key, the books' levels and counters, as JSON.
  std::string StateJson() const;

 private:
  std::unique_ptr<EmulatorImpl> impl_;
};

}  // namespace quotaflow::emulator
