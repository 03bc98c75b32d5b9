using System.Diagnostics.CodeAnalysis;
using Grpc.Core;
using Grpc.Core.Interceptors;
using Microsoft.Extensions.Logging;
using Shoal.Ca.Tls;

namespace Shoal.Ca.Authorization;

/// <summary>
/// Enforces the <see cref="MethodAuthorizationTable"/> on every call: the caller's certificate must name one of the
/// method's roles and our cluster, and must not belong to a removed node; a call without a certificate reaches only
/// bootstrap methods. Handlers read the caller with <see cref="CallerContext.GetCaller"/>.
/// </summary>
public sealed partial class RoleAuthorizationInterceptor(
    MethodAuthorizationTable table, PeerAuthenticator authenticator, ILogger<RoleAuthorizationInterceptor> logger) : Interceptor
{
    /// <inheritdoc/>
    public override Task<TResponse> UnaryServerHandler<TRequest, TResponse>(TRequest request, ServerCallContext context, UnaryServerMethod<TRequest, TResponse> continuation)
    {
        Authorize(context);
        return continuation(request, context);
    }

    /// <inheritdoc/>
    public override Task<TResponse> ClientStreamingServerHandler<TRequest, TResponse>(IAsyncStreamReader<TRequest> requestStream, ServerCallContext context, ClientStreamingServerMethod<TRequest, TResponse> continuation)
    {
        Authorize(context);
        return continuation(requestStream, context);
    }

    /// <inheritdoc/>
    public override Task ServerStreamingServerHandler<TRequest, TResponse>(TRequest request, IServerStreamWriter<TResponse> responseStream, ServerCallContext context, ServerStreamingServerMethod<TRequest, TResponse> continuation)
    {
        Authorize(context);
        return continuation(request, responseStream, context);
    }

    /// <inheritdoc/>
    public override Task DuplexStreamingServerHandler<TRequest, TResponse>(IAsyncStreamReader<TRequest> requestStream, IServerStreamWriter<TResponse> responseStream, ServerCallContext context, DuplexStreamingServerMethod<TRequest, TResponse> continuation)
    {
        Authorize(context);
        return continuation(requestStream, responseStream, context);
    }

    private void Authorize(ServerCallContext context)
    {
        var rule = table.Find(context.Method);
        if (rule is null || (rule.Roles.Count == 0 && !rule.Bootstrap))
        {
            Deny(context, StatusCode.PermissionDenied, $"{context.Method} is not open to any caller");
        }

        var certificate = context.GetHttpContext().Connection.ClientCertificate;
        var relayedFor = context.RequestHeaders.GetValue(Forwarding.RelayHeaders.ForwardedFor);
        if (certificate is null)
        {
            if (!rule.Bootstrap)
            {
                Deny(context, StatusCode.Unauthenticated, $"{context.Method} needs a client certificate from the swarm's CA");
            }

            context.UserState[CallerContext.Key] = CallerContext.AnonymousMarker;
            return;
        }

        if (!authenticator.TryIdentify(certificate, out var caller, out var error))
        {
            Deny(context, StatusCode.PermissionDenied, error);
        }

        if (relayedFor is not null)
        {
            AuthorizeRelayed(context, rule, caller, relayedFor);
            return;
        }

        if (!rule.Roles.Contains(caller.RoleName))
        {
            Deny(context, StatusCode.PermissionDenied, $"{context.Method} is not open to {caller.RoleName} nodes");
        }

        context.UserState[CallerContext.Key] = caller;
    }

    /// <summary>
    /// A call a follower relayed to this manager: the follower (a manager, by its certificate) vouches for the
    /// original caller it authenticated, whom the method's rule must admit as if it had called directly.
    /// </summary>
    private void AuthorizeRelayed(ServerCallContext context, MethodRule rule, PeerIdentity relay, string relayedFor)
    {
        if (relay.Role != Api.NodeRole.Manager || !rule.ForwardToLeader)
        {
            Deny(context, StatusCode.PermissionDenied, $"{relay.NodeId} may not relay {context.Method}: only managers relay, and only methods the leader serves");
        }

        context.UserState[CallerContext.RelayedKey] = relay;
        if (!Forwarding.RelayHeaders.TryParseCaller(relayedFor, relay.ClusterId, out var original))
        {
            if (!rule.Bootstrap)
            {
                Deny(context, StatusCode.Unauthenticated, $"{context.Method} needs a client certificate from the swarm's CA");
            }

            context.UserState[CallerContext.Key] = CallerContext.AnonymousMarker;
            return;
        }

        if (authenticator.IsRemoved(original.NodeId))
        {
            Deny(context, StatusCode.PermissionDenied, $"node {original.NodeId} was removed from the swarm; join it again with a token");
        }

        if (!rule.Roles.Contains(original.RoleName))
        {
            Deny(context, StatusCode.PermissionDenied, $"{context.Method} is not open to {original.RoleName} nodes");
        }

        context.UserState[CallerContext.Key] = original;
    }

    [DoesNotReturn]
    private void Deny(ServerCallContext context, StatusCode code, string reason)
    {
        LogDenied(logger, context.Method, context.Peer, reason);
        throw new RpcException(new Status(code, reason));
    }

    [LoggerMessage(EventId = 3010, Level = LogLevel.Warning, Message = "Denied {Method} to {Peer}: {Reason}")]
    private static partial void LogDenied(ILogger logger, string method, string peer, string reason);
}

/// <summary>The caller of a cluster-port call, as the authorization interceptor established it.</summary>
public static class CallerContext
{
    internal const string Key = "shoal.caller";

    /// <summary>Set on calls a follower relayed (their relayed headers were checked and may be believed).</summary>
    internal const string RelayedKey = "shoal.relayed";

    /// <summary>Stands for a caller without a certificate (a joining node on a bootstrap method).</summary>
    internal static readonly object AnonymousMarker = new();

    /// <summary>
    /// The calling node (ID, role, cluster), or null for a caller without a certificate on a bootstrap method.
    /// </summary>
    /// <exception cref="InvalidOperationException">The call did not pass through the interceptor.</exception>
    public static PeerIdentity? GetCaller(this ServerCallContext context) =>
        GetCallerCore(context);

    /// <summary>
    /// The original caller's network address ("ipv4:10.0.0.5:41234"): the relayed one when a follower relayed the
    /// call, else the connection's peer.
    /// </summary>
    public static string GetCallerAddress(this ServerCallContext context) =>
        context.UserState.ContainsKey(RelayedKey) && context.RequestHeaders.GetValue(Forwarding.RelayHeaders.ForwardedAddress) is { Length: > 0 } relayed
            ? relayed
            : context.Peer;

    private static PeerIdentity? GetCallerCore(ServerCallContext context) =>
        context.UserState.TryGetValue(Key, out var caller)
            ? caller as PeerIdentity
            : throw new InvalidOperationException($"{context.Method} was not authorized by the role interceptor");
}
