using Google.Protobuf;
using Grpc.Core;
using Shoal.Api;
using Shoal.Ca.Authorization;

namespace Shoal.Raft.Transport;

/// <summary>
/// The receiving side of the Raft transport on the cluster port (managers only, by the methods' declared roles).
/// Messages go to the local driver; a snapshot is reassembled from its chunks (up to a size limit) first.
/// </summary>
public sealed class RaftService(IRaftMessageSink sink) : Api.Raft.RaftBase
{
    /// <summary>The largest snapshot accepted.</summary>
    public const long MaxSnapshotBytes = 1L * 1024 * 1024 * 1024;

    /// <inheritdoc/>
    public override async Task<RaftSendResponse> Send(IAsyncStreamReader<RaftMessageBatch> requestStream, ServerCallContext context)
    {
        var caller = context.GetCaller()?.NodeId ?? string.Empty;
        await foreach (var batch in requestStream.ReadAllAsync(context.CancellationToken).ConfigureAwait(false))
        {
            foreach (var message in batch.Messages)
            {
                if (message.Type == RaftMessageType.RaftMsgSnap)
                {
                    continue; // snapshots only arrive through SendSnapshot
                }

                sink.Receive(message, caller);
            }
        }

        return new RaftSendResponse();
    }

    /// <inheritdoc/>
    public override async Task<RaftSendResponse> SendSnapshot(IAsyncStreamReader<RaftSnapshotChunk> requestStream, ServerCallContext context)
    {
        var caller = context.GetCaller()?.NodeId ?? string.Empty;
        RaftMessage? header = null;
        using var data = new MemoryStream();
        await foreach (var chunk in requestStream.ReadAllAsync(context.CancellationToken).ConfigureAwait(false))
        {
            header ??= chunk.Message ?? throw new RpcException(new Status(StatusCode.InvalidArgument, "the first snapshot chunk must carry the message"));
            if (data.Length + chunk.Data.Length > MaxSnapshotBytes)
            {
                throw new RpcException(new Status(StatusCode.ResourceExhausted, $"snapshot larger than {MaxSnapshotBytes} bytes"));
            }

            chunk.Data.WriteTo(data);
            if (chunk.Last)
            {
                break;
            }
        }

        if (header?.Snapshot is null)
        {
            throw new RpcException(new Status(StatusCode.InvalidArgument, "an empty snapshot stream"));
        }

        header.Snapshot.Data = ByteString.CopyFrom(data.GetBuffer().AsSpan(0, (int)data.Length));
        sink.Receive(header, caller);
        return new RaftSendResponse();
    }
}
