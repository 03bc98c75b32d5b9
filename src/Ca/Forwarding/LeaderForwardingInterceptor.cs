using System.Collections.Concurrent;
using Google.Protobuf;
using Grpc.Core;
using Grpc.Core.Interceptors;
using Shoal.Ca.Authorization;

namespace Shoal.Ca.Forwarding;

/// <summary>
/// Relays calls to methods marked <c>forward_to_leader</c> from a follower to the leader (DESIGN §8). Runs after the
/// role interceptor: the caller is already authenticated and authorized here, and the leader is told who it was.
/// All relayed calls share the one channel — one HTTP/2 connection — that the route holds to the leader, so a
/// follower with thousands of workers holds one connection to the leader, not one per worker. A relayed call that
/// reaches a manager which no longer leads is refused with Unavailable rather than relayed again (no loops); the
/// caller retries and finds the new leader.
/// </summary>
public sealed class LeaderForwardingInterceptor(MethodAuthorizationTable table, ILeaderRoute route) : Interceptor
{
    private readonly ConcurrentDictionary<string, object> _methods = new(StringComparer.Ordinal);

    /// <inheritdoc/>
    public override async Task<TResponse> UnaryServerHandler<TRequest, TResponse>(TRequest request, ServerCallContext context, UnaryServerMethod<TRequest, TResponse> continuation)
    {
        if (RelayTarget(context) is not { } relay)
        {
            return await continuation(request, context).ConfigureAwait(false);
        }

        using var call = relay.Leader.AsyncUnaryCall(MethodOf<TRequest, TResponse>(context.Method), null, RelayOptions(context), request);
        try
        {
            return await call.ResponseAsync.ConfigureAwait(false);
        }
        catch (RpcException e) when (!Answered(call.ResponseHeadersAsync))
        {
            throw Unreachable(relay, e);
        }
    }

    /// <inheritdoc/>
    public override async Task ServerStreamingServerHandler<TRequest, TResponse>(TRequest request, IServerStreamWriter<TResponse> responseStream, ServerCallContext context, ServerStreamingServerMethod<TRequest, TResponse> continuation)
    {
        if (RelayTarget(context) is not { } relay)
        {
            await continuation(request, responseStream, context).ConfigureAwait(false);
            return;
        }

        using var call = relay.Leader.AsyncServerStreamingCall(MethodOf<TRequest, TResponse>(context.Method), null, RelayOptions(context), request);
        try
        {
            // The leader answers a stream with its headers before any message (a log subscription the leader accepted
            // may stay silent for long): pass that answer on at once, so the caller knows the call was taken.
            await call.ResponseHeadersAsync.ConfigureAwait(false);
            await context.WriteResponseHeadersAsync(new Metadata()).ConfigureAwait(false);
            await foreach (var message in call.ResponseStream.ReadAllAsync(context.CancellationToken).ConfigureAwait(false))
            {
                await responseStream.WriteAsync(message, context.CancellationToken).ConfigureAwait(false);
            }
        }
        catch (RpcException e) when (!Answered(call.ResponseHeadersAsync))
        {
            throw Unreachable(relay, e);
        }
    }

    /// <summary>
    /// Whether the leader answered the relayed call at all (sent its headers): its own errors pass through as they
    /// are; a call that never reached it is reported as such, not in the words of this follower's gRPC client.
    /// </summary>
    private static bool Answered(Task<Metadata> headers) => headers.IsCompletedSuccessfully;

    private static RpcException Unreachable(LeaderRoute.Relay relay, RpcException e) =>
        new(new Status(StatusCode.Unavailable, $"this manager could not relay the call to the leader at {relay.LeaderAddress} ({e.Status.Detail}); retry, or call another manager", e));

    /// <summary>The leader to relay to, or null when the call is served here.</summary>
    private LeaderRoute.Relay? RelayTarget(ServerCallContext context)
    {
        if (table.Find(context.Method) is not { ForwardToLeader: true })
        {
            return null;
        }

        switch (route.Current)
        {
            case LeaderRoute.Relay relay when context.RequestHeaders.GetValue(RelayHeaders.ForwardedFor) is null:
                return relay;
            case LeaderRoute.Relay relay:
                throw new RpcException(new Status(StatusCode.Unavailable,
                    $"this manager is not the leader any more (the leader is at {relay.LeaderAddress}); retry"));
            case LeaderRoute.Unavailable unavailable:
                throw new RpcException(new Status(StatusCode.Unavailable, unavailable.Reason));
            default:
                return null;
        }
    }

    private static CallOptions RelayOptions(ServerCallContext context)
    {
        var headers = new Metadata
        {
            { RelayHeaders.ForwardedFor, RelayHeaders.Format(context.GetCaller()) },
            { RelayHeaders.ForwardedAddress, context.Peer },
        };
        DateTime? deadline = context.Deadline == DateTime.MaxValue ? null : context.Deadline;
        return new CallOptions(headers, deadline, context.CancellationToken);
    }

    private Method<TRequest, TResponse> MethodOf<TRequest, TResponse>(string path)
        where TRequest : class
        where TResponse : class =>
        (Method<TRequest, TResponse>)_methods.GetOrAdd(path, static (p, t) =>
        {
            var descriptor = t.Find(p)!.Descriptor!;
            var input = descriptor.InputType.Parser;
            var output = descriptor.OutputType.Parser;
            return new Method<TRequest, TResponse>(
                descriptor.IsServerStreaming ? MethodType.ServerStreaming : MethodType.Unary,
                descriptor.Service.FullName,
                descriptor.Name,
                Marshallers.Create(r => ((IMessage)r).ToByteArray(), b => (TRequest)input.ParseFrom(b)),
                Marshallers.Create(r => ((IMessage)r).ToByteArray(), b => (TResponse)output.ParseFrom(b)));
        }, table);
}
