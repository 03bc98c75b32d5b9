using Microsoft.Extensions.DependencyInjection;
using Shoal.Api;
using Shoal.Ca;
using Shoal.Manager.LogBroker;

namespace Shoal.Manager.ControlApi;

/// <summary>Serving the control API on a cluster port.</summary>
public static class ControlApiExtensions
{
    /// <summary>
    /// Registers the <c>Control</c> service, and the log broker its <c>SubscribeLogs</c> hands subscriptions to (the
    /// broker serves only while its <see cref="LogBroker.LogBroker.RunAsync"/> runs on the leader). The caller registers
    /// the dependencies: the <see cref="Store.MemoryStore"/>, a <see cref="TimeProvider"/> and an <see cref="IManagerQuorum"/>.
    /// </summary>
    public static ClusterPortBuilder MapControlApi(this ClusterPortBuilder port)
    {
        ArgumentNullException.ThrowIfNull(port);
        port.MapLogBroker();
        port.Services.AddSingleton<ControlApiServer>();
        return port.MapService<ControlApiServer>(Control.Descriptor);
    }
}
