#include "gateway/rpc_metrics.h"

#include <chrono>

namespace caselink {
namespace {

using grpc::experimental::InterceptionHookPoints;

class RpcCountingInterceptor final : public grpc::experimental::Interceptor {
 public:
  RpcCountingInterceptor(GatewayMetrics& metrics, const char* method, bool unary)
      : metrics_(metrics), method_(method), unary_(unary), started_(std::chrono::steady_clock::now()) {}

  void Intercept(grpc::experimental::InterceptorBatchMethods* methods) override {
    // A call's status is sent once, whether it ends in success, a refusal or
    // a cancellation the handler noticed.
    if (methods->QueryInterceptionHookPoint(InterceptionHookPoints::PRE_SEND_STATUS)) {
      metrics_.CountRpc(method_, static_cast<int>(methods->GetSendStatus().error_code()));
      // A stream's time is its caller's to choose; a unary call's is the gateway's answer time.
      if (unary_) metrics_.ObserveUnaryRpc(method_, std::chrono::steady_clock::now() - started_);
    }
    methods->Proceed();
  }

 private:
  GatewayMetrics& metrics_;
  const char* const method_;  // gRPC's, alive for the call
  const bool unary_;
  const std::chrono::steady_clock::time_point started_;
};

class RpcCountingInterceptorFactory final : public grpc::experimental::ServerInterceptorFactoryInterface {
 public:
  explicit RpcCountingInterceptorFactory(GatewayMetrics& metrics) : metrics_(metrics) {}

  grpc::experimental::Interceptor* CreateServerInterceptor(grpc::experimental::ServerRpcInfo* info) override {
    return new RpcCountingInterceptor(metrics_, info->method() != nullptr ? info->method() : "unknown",
                                      info->type() == grpc::experimental::ServerRpcInfo::Type::UNARY);
  }

 private:
  GatewayMetrics& metrics_;
};

}  // namespace

std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface> NewRpcCountingInterceptorFactory(
    GatewayMetrics& metrics) {
  return std::make_unique<RpcCountingInterceptorFactory>(metrics);
}

}  // namespace caselink
