// Counts every RPC the gateway answers, by method and status code, and times
// the unary ones, for its metrics: a gRPC server interceptor that looks only at
// the call's start and the status sent.
#pragma once

#include <memory>

#include <grpcpp/support/server_interceptor.h>

#include "gateway/metrics.h"

namespace caselink {

// Interceptors that count each call's status in `metrics` once it is sent, and
// time each unary call.
// `metrics` must outlive the server.
std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface> NewRpcCountingInterceptorFactory(
    GatewayMetrics& metrics);

}  // namespace caselink
