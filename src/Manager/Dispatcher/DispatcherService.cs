using Google.Protobuf.WellKnownTypes;
using Grpc.Core;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Shoal.Api;
using Shoal.Ca;
using Shoal.Ca.Authorization;
using Shoal.Ca.Tls;

namespace Shoal.Manager.Dispatcher;

/// <summary>
/// The <c>Dispatcher</c> gRPC service on the cluster port: identifies the caller by its certificate and maps the
/// <see cref="Dispatcher"/>'s refusals to status codes.
/// </summary>
public sealed class DispatcherService(Dispatcher dispatcher) : Shoal.Api.Dispatcher.DispatcherBase
{
    /// <inheritdoc/>
    public override async Task Session(SessionRequest request, IServerStreamWriter<SessionMessage> responseStream, ServerCallContext context)
    {
        var caller = Caller(context);
        var connection = context.GetHttpContext().Connection;
        var address = connection.RemoteIpAddress is { } ip ? (ip.IsIPv4MappedToIPv6 ? ip.MapToIPv4() : ip).ToString() : string.Empty;
        var certificate = connection.ClientCertificate?.ExportCertificatePem();
        await GuardAsync(() => dispatcher.RunSessionAsync(caller, address, certificate, request, (m, ct) => responseStream.WriteAsync(m, ct), context.CancellationToken));
    }

    /// <inheritdoc/>
    public override async Task<HeartbeatResponse> Heartbeat(HeartbeatRequest request, ServerCallContext context)
    {
        var caller = Caller(context);
        TimeSpan period = default;
        await GuardAsync(() =>
        {
            period = dispatcher.Heartbeat(caller.NodeId, request.SessionId);
            return Task.CompletedTask;
        });
        return new HeartbeatResponse { Period = Duration.FromTimeSpan(period) };
    }

    /// <inheritdoc/>
    public override async Task Assignments(AssignmentsRequest request, IServerStreamWriter<AssignmentsMessage> responseStream, ServerCallContext context)
    {
        var caller = Caller(context);
        await GuardAsync(() => dispatcher.RunAssignmentsAsync(caller.NodeId, request.SessionId, (m, ct) => responseStream.WriteAsync(m, ct), context.CancellationToken));
    }

    /// <inheritdoc/>
    public override async Task<UpdateTaskStatusResponse> UpdateTaskStatus(UpdateTaskStatusRequest request, ServerCallContext context)
    {
        var caller = Caller(context);
        await GuardAsync(() => dispatcher.UpdateTaskStatusAsync(caller.NodeId, request.SessionId, request.Updates, context.CancellationToken));
        return new UpdateTaskStatusResponse();
    }

    private static PeerIdentity Caller(ServerCallContext context) =>
        context.GetCaller() ?? throw new RpcException(new Status(StatusCode.Unauthenticated, "the dispatcher needs a client certificate from the swarm's CA"));

    private static async Task GuardAsync(Func<Task> call)
    {
        try
        {
            await call();
        }
        catch (DispatcherException e)
        {
            throw new RpcException(new Status(ToStatusCode(e.Kind), e.Message));
        }
    }

    /// <summary>The status code a refusal is answered with.</summary>
    public static StatusCode ToStatusCode(DispatcherErrorKind kind) => kind switch
    {
        DispatcherErrorKind.NotRunning => StatusCode.Unavailable,
        DispatcherErrorKind.RateLimited => StatusCode.Unavailable,
        DispatcherErrorKind.SessionNotFound => StatusCode.NotFound,
        DispatcherErrorKind.PermissionDenied => StatusCode.PermissionDenied,
        DispatcherErrorKind.NodeRemoved => StatusCode.NotFound,
        DispatcherErrorKind.InvalidArgument => StatusCode.InvalidArgument,
        _ => StatusCode.Internal,
    };
}

/// <summary>Serving the dispatcher on a cluster port.</summary>
public static class DispatcherPortExtensions
{
    /// <summary>
    /// Registers the <c>Dispatcher</c> service and, unless one is registered already, a <see cref="Dispatcher"/>
    /// singleton built from the port's services (the <see cref="Store.MemoryStore"/> must be registered; a
    /// <see cref="DispatcherOptions"/> and a <see cref="TimeProvider"/> are used when registered). The composition root
    /// resolves that <see cref="Dispatcher"/> from <see cref="ClusterPortServer.Services"/> to run it while leading.
    /// </summary>
    public static ClusterPortBuilder MapDispatcher(this ClusterPortBuilder port)
    {
        ArgumentNullException.ThrowIfNull(port);
        port.Services.TryAddSingleton<Dispatcher>();
        return port.MapService<DispatcherService>(Shoal.Api.Dispatcher.Descriptor);
    }
}
