using Grpc.Core;

namespace Shoal.Ca.Forwarding;

/// <summary>Where a call to a method that only the Raft leader serves goes now.</summary>
public abstract record LeaderRoute
{
    private LeaderRoute()
    {
    }

    /// <summary>This manager leads: it serves the call.</summary>
    public static LeaderRoute Local { get; } = new LocalRoute();

    /// <summary>Another manager leads: the call is relayed there through <paramref name="Leader"/>.</summary>
    public sealed record Relay(CallInvoker Leader, string LeaderAddress) : LeaderRoute;

    /// <summary>Nobody can serve the call now (no leader known, or this node is not a manager); says why.</summary>
    public sealed record Unavailable(string Reason) : LeaderRoute;

    private sealed record LocalRoute : LeaderRoute;
}

/// <summary>Tells the cluster port where leader-only calls go (the manager implements it over its Raft member).</summary>
public interface ILeaderRoute
{
    /// <summary>The route for a call arriving now.</summary>
    LeaderRoute Current { get; }
}
