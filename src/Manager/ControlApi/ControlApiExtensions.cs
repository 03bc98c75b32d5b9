using Microsoft.Extensions.DependencyInjection;
using Shoal.Api;
using Shoal.Ca;

namespace Shoal.Manager.ControlApi;

/// <summary>Serving the control API on a cluster port.</summary>
public static class ControlApiExtensions
{
    /// <summary>
    /// Registers the <c>Control</c> service. The caller registers its dependencies: the <see cref="Store.MemoryStore"/>,
    /// a <see cref="TimeProvider"/> and an <see cref="IManagerQuorum"/>.
    /// </summary>
    public static ClusterPortBuilder MapControlApi(this ClusterPortBuilder port)
    {
        ArgumentNullException.ThrowIfNull(port);
        port.Services.AddSingleton<ControlApiServer>();
        return port.MapService<ControlApiServer>(Control.Descriptor);
    }
}
