#pragma once
// Where a request's signing credentials come from. The default chain (credentials.h) implements
// this; tests and the emulator's own clients use StaticCredentialsProvider.

#include <string>
#include <utility>

#include "aws/sigv4.h"
#include "quotaflow/error.h"

namespace quotaflow::aws {

// Thread safety: implementations are safe from many threads. GetCredentials may block (it can
// refresh over the network), so never call it on the event loop thread with a lock held.
class CredentialsProvider {
 public:
  virtual ~CredentialsProvider() = default;
  // Current credentials, refreshed before they expire; kAuth with where it looked when none.
  virtual Result<Credentials> GetCredentials() = 0;
};

class StaticCredentialsProvider final : public CredentialsProvider {
 public:
  explicit StaticCredentialsProvider(Credentials credentials)
      : credentials_(std::move(credentials)) {}
  Result<Credentials> GetCredentials() override { return credentials_; }

 private:
  const Credentials credentials_;
};

}  // namespace quotaflow::aws
