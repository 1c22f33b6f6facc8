#!/usr/bin/env python3
"""Signs requests with botocore's own SigV4 signer, so that a C++ test can compare byte for byte.

Used by src/aws/sigv4_botocore_test.cc. Standard library plus botocore only.

Input: a JSON file named by the only argument (or stdin when there is none):
  {"requests": [{
      "name": "bedrock_converse",
      "method": "POST",
      "endpoint": "https://bedrock-runtime.us-east-1.amazonaws.com",
      "path": "/model/anthropic.claude-3-5-sonnet-20240620-v1%3A0/converse",   (as on the wire)
      "query": "",                                                             (as on the wire)
      "headers": [["Content-Type", "application/json"], ...],  (no Host: botocore derives it)
      "body": "...",                                           (sent as UTF-8)
      "region": "us-east-1", "service": "bedrock",
      "access_key": "...", "secret_key": "...", "token": "" (empty: none),
      "time": "20250101T000000Z"}]}

Output on stdout: {"botocore_version": "1.43.11", "results": [{
      "name", "canonical_request", "string_to_sign", "authorization",
      "headers": [[name, value], ...]   (every header after signing, in order)}]}

Exit status: 0 on success; 77 when botocore cannot be imported (the C++ test then skips, or
fails when CI=true); anything else is an error, explained on stderr.
"""

import datetime
import json
import sys

EXIT_BOTOCORE_MISSING = 77


def main():
    try:
        import botocore
        import botocore.auth
        from botocore.awsrequest import AWSRequest
        from botocore.credentials import Credentials
    except ImportError as e:
        print(f"botocore is not importable by {sys.executable}: {e}", file=sys.stderr)
        return EXIT_BOTOCORE_MISSING

    class RecordingSigV4Auth(botocore.auth.SigV4Auth):
        """SigV4Auth that keeps what add_auth computed. Recomputing afterwards would not do:
        the signed request then also carries the Authorization header."""

        def canonical_request(self, request):
            self.recorded_canonical_request = super().canonical_request(request)
            return self.recorded_canonical_request

        def string_to_sign(self, request, canonical_request):
            self.recorded_string_to_sign = super().string_to_sign(request, canonical_request)
            return self.recorded_string_to_sign

    if len(sys.argv) > 1:
        with open(sys.argv[1], encoding="utf-8") as f:
            spec = json.load(f)
    else:
        spec = json.load(sys.stdin)

    results = []
    for r in spec["requests"]:
        # add_auth reads the time from botocore.auth.get_current_datetime (a naive UTC datetime);
        # replacing it is the one way to sign at a fixed time without touching the system clock.
        fixed = datetime.datetime.strptime(r["time"], "%Y%m%dT%H%M%SZ")
        botocore.auth.get_current_datetime = lambda *args, _fixed=fixed, **kwargs: _fixed

        url = r["endpoint"] + r["path"]
        if r["query"]:
            url += "?" + r["query"]
        request = AWSRequest(method=r["method"], url=url, data=r["body"].encode("utf-8"))
        for name, value in r["headers"]:
            request.headers[name] = value  # HTTPHeaders appends: repeated names stay repeated
        credentials = Credentials(r["access_key"], r["secret_key"], r["token"] or None)
        signer = RecordingSigV4Auth(credentials, r["service"], r["region"])
        signer.add_auth(request)
        results.append({
            "name": r["name"],
            "canonical_request": signer.recorded_canonical_request,
            "string_to_sign": signer.recorded_string_to_sign,
            "authorization": request.headers["Authorization"],
            "headers": [[name, value] for name, value in request.headers.items()],
        })

    json.dump({"botocore_version": botocore.__version__, "results": results}, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
