// CaseService.SubmitStream: many signed envelopes on one call, each through
// the same pipeline as Submit and answered by its position once durable.
#pragma once

#include <grpcpp/grpcpp.h>

#include "caselink/v1/services.pb.h"
#include "gateway/services.h"

namespace caselink {

// The reactor for one SubmitStream call; it deletes itself when gRPC is done
// with the call, which is never before every envelope it read is answered. It
// stops reading while ctx.submit_stream_window envelopes are held (being
// committed, or answered but not yet taken by the caller).
grpc::ServerBidiReactor<v1::SubmitStreamRequest, v1::SubmitStreamResponse>* NewSubmitStreamReactor(
    ServiceContext ctx, PeerIdentifier& peers, grpc::CallbackServerContext* context);

}  // namespace caselink
