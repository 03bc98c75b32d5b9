using System.Threading.Channels;
using Grpc.Core;
using Shoal.Api;

namespace Shoal.DockerApi.Tests;

/// <summary>
/// The control API boundary for the log endpoints: services, tasks and nodes looked up from dictionaries, and a log
/// subscription whose batches the test writes (and may fail) through <see cref="Logs"/>.
/// </summary>
internal sealed class FakeLogControl : Control.ControlClient
{
    public Dictionary<string, Service> Services { get; } = new(StringComparer.Ordinal);

    public Dictionary<string, SwarmTask> Tasks { get; } = new(StringComparer.Ordinal);

    public Dictionary<string, Node> Nodes { get; } = new(StringComparer.Ordinal);

    /// <summary>Every subscription asked for, with the call's cancellation token (cancelled when the client goes).</summary>
    public List<(SubscribeLogsRequest Request, CancellationToken Cancellation)> Subscriptions { get; } = [];

    /// <summary>The batches of the next subscription; complete it to end the stream, or complete it with an RpcException.</summary>
    public Channel<SubscribeLogsMessage> Logs { get; } = Channel.CreateUnbounded<SubscribeLogsMessage>();

    /// <summary>When set, the subscription fails before it answers (as a server that refuses it does).</summary>
    public RpcException? RefuseSubscription { get; set; }

    public override AsyncUnaryCall<GetServiceResponse> GetServiceAsync(GetServiceRequest request, CallOptions options) =>
        Unary(() => new GetServiceResponse
        {
            Service = Services.Values.FirstOrDefault(s => s.Id == request.ServiceRef || s.Spec.Annotations.Name == request.ServiceRef)
                ?? throw new RpcException(new Status(StatusCode.NotFound, $"service {request.ServiceRef} not found")),
        });

    public override AsyncUnaryCall<GetTaskResponse> GetTaskAsync(GetTaskRequest request, CallOptions options) =>
        Unary(() => new GetTaskResponse
        {
            Task = Tasks.GetValueOrDefault(request.TaskId) ?? throw new RpcException(new Status(StatusCode.NotFound, $"task {request.TaskId} not found")),
        });

    public override AsyncUnaryCall<GetNodeResponse> GetNodeAsync(GetNodeRequest request, CallOptions options) =>
        Unary(() => new GetNodeResponse
        {
            Node = Nodes.GetValueOrDefault(request.NodeRef) ?? throw new RpcException(new Status(StatusCode.NotFound, $"node {request.NodeRef} not found")),
        });

    public override AsyncServerStreamingCall<SubscribeLogsMessage> SubscribeLogs(SubscribeLogsRequest request, CallOptions options)
    {
        lock (Subscriptions)
        {
            Subscriptions.Add((request, options.CancellationToken));
        }

        if (RefuseSubscription is { } refusal)
        {
            return new AsyncServerStreamingCall<SubscribeLogsMessage>(
                new FailingReader(refusal), Task.FromException<Metadata>(refusal), () => refusal.Status, () => [], () => { });
        }

        return new AsyncServerStreamingCall<SubscribeLogsMessage>(
            new ChannelReader(Logs.Reader, options.CancellationToken), Task.FromResult(new Metadata()), () => Status.DefaultSuccess, () => [], () => { });
    }

    private static AsyncUnaryCall<T> Unary<T>(Func<T> answer)
    {
        Task<T> response;
        try
        {
            response = Task.FromResult(answer());
        }
        catch (RpcException e)
        {
            response = Task.FromException<T>(e);
        }

        return new AsyncUnaryCall<T>(response, Task.FromResult(new Metadata()), () => Status.DefaultSuccess, () => [], () => { });
    }

    private sealed class ChannelReader(ChannelReader<SubscribeLogsMessage> reader, CancellationToken call) : IAsyncStreamReader<SubscribeLogsMessage>
    {
        public SubscribeLogsMessage Current { get; private set; } = new();

        public async Task<bool> MoveNext(CancellationToken cancellationToken)
        {
            using var linked = CancellationTokenSource.CreateLinkedTokenSource(call, cancellationToken);
            try
            {
                if (!await reader.WaitToReadAsync(linked.Token) || !reader.TryRead(out var item))
                {
                    return false;
                }

                Current = item;
                return true;
            }
            catch (OperationCanceledException)
            {
                throw new RpcException(new Status(StatusCode.Cancelled, "the call was cancelled"));
            }
            catch (ChannelClosedException e) when (e.InnerException is RpcException rpc)
            {
                throw rpc;
            }
        }
    }

    private sealed class FailingReader(RpcException error) : IAsyncStreamReader<SubscribeLogsMessage>
    {
        public SubscribeLogsMessage Current => throw error;

        public Task<bool> MoveNext(CancellationToken cancellationToken) => Task.FromException<bool>(error);
    }
}
