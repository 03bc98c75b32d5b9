using Microsoft.Extensions.DependencyInjection;
using Shoal.Ca;

namespace Shoal.Raft.Transport;

/// <summary>Serving Raft on a cluster port.</summary>
public static class RaftPortExtensions
{
    /// <summary>Serves the Raft transport (managers only, as its methods declare), delivering to <paramref name="relay"/>.</summary>
    public static ClusterPortBuilder MapRaft(this ClusterPortBuilder port, RaftMessageRelay relay)
    {
        port.Services.AddSingleton<IRaftMessageSink>(relay);
        return port.MapService<RaftService>(Api.Raft.Descriptor);
    }
}
