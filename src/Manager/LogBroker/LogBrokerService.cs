using Grpc.Core;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Shoal.Api;
using Shoal.Ca;
using Shoal.Ca.Authorization;

namespace Shoal.Manager.LogBroker;

/// <summary>
/// The <c>LogBroker</c> gRPC service on the cluster port: identifies the calling node by its certificate (or, for a
/// call a follower relayed, by the caller the follower vouched for) and hands the call to the <see cref="LogBroker"/>.
/// </summary>
public sealed class LogBrokerService(LogBroker broker) : Shoal.Api.LogBroker.LogBrokerBase
{
    /// <inheritdoc/>
    public override Task ListenSubscriptions(ListenSubscriptionsRequest request, IServerStreamWriter<SubscriptionMessage> responseStream, ServerCallContext context) =>
        broker.ListenAsync(
            CallerNodeId(context),
            (m, ct) => responseStream.WriteAsync(m, ct),
            () => context.WriteResponseHeadersAsync(new Metadata()),
            context.CancellationToken);

    /// <inheritdoc/>
    public override async Task<PublishLogsResponse> PublishLogs(PublishLogsRequest request, ServerCallContext context)
    {
        await broker.PublishAsync(CallerNodeId(context), request, context.CancellationToken);
        return new PublishLogsResponse();
    }

    private static string CallerNodeId(ServerCallContext context) =>
        context.GetCaller()?.NodeId ?? throw new RpcException(new Status(StatusCode.Unauthenticated, "the log broker needs a client certificate from the swarm's CA"));
}

/// <summary>Serving the log broker on a cluster port.</summary>
public static class LogBrokerPortExtensions
{
    /// <summary>
    /// Registers the <c>LogBroker</c> service and, unless one is registered already, a <see cref="LogBroker"/>
    /// singleton built from the port's services (the <see cref="Store.MemoryStore"/> must be registered; a
    /// <see cref="LogBrokerOptions"/> and a <see cref="TimeProvider"/> are used when registered). The composition root
    /// resolves that <see cref="LogBroker"/> from <see cref="ClusterPortServer.Services"/> to run it while leading, and
    /// hands it to the control API's <c>SubscribeLogs</c>.
    /// </summary>
    public static ClusterPortBuilder MapLogBroker(this ClusterPortBuilder port)
    {
        ArgumentNullException.ThrowIfNull(port);
        port.Services.TryAddSingleton<LogBroker>();
        return port.MapService<LogBrokerService>(Shoal.Api.LogBroker.Descriptor);
    }
}
