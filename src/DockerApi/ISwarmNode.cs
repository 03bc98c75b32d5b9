using Shoal.Api;
using Shoal.DockerApi.Model;

namespace Shoal.DockerApi;

/// <summary>
/// The local node as the Docker API sees it: its state, its control API client when it is a manager, and the
/// operations that change its own membership. The node's composition root implements it.
/// </summary>
public interface ISwarmNode
{
    /// <summary>The node's swarm state and host facts, as of now (read on every request).</summary>
    LocalNodeInfo Info { get; }

    /// <summary>The control API of this manager's cluster port; null when this node is not a manager, and then every
    /// swarm-manager endpoint answers 503 "This node is not a swarm manager…".</summary>
    Control.ControlClient? Control { get; }

    /// <summary>Creates a swarm with this node as its first manager (<c>docker swarm init</c>); returns the node ID.</summary>
    /// <exception cref="DockerApiException">For the documented failures, such as 503
    /// <see cref="DockerApiException.AlreadyInSwarmMessage"/> or 400 for a bad request.</exception>
    Task<string> InitAsync(SwarmInitRequest request, CancellationToken cancellationToken);

    /// <summary>Joins an existing swarm (<c>docker swarm join</c>); the token decides the role.</summary>
    /// <exception cref="DockerApiException">For the documented failures, such as 503
    /// <see cref="DockerApiException.AlreadyInSwarmMessage"/>, or 400/500 with the join error.</exception>
    Task JoinAsync(SwarmJoinRequest request, CancellationToken cancellationToken);

    /// <summary>Leaves the swarm (<c>docker swarm leave</c>).</summary>
    /// <exception cref="DockerApiException">503 <see cref="DockerApiException.NotInSwarmMessage"/>, or 503 when a
    /// manager leaves without <paramref name="force"/> (<see cref="DockerApiException.LeaveManagerMessage"/>).</exception>
    Task LeaveAsync(bool force, CancellationToken cancellationToken);
}

/// <summary>The local node's state and host facts, for <c>/info</c>, <c>/version</c> and the ping's Swarm header.</summary>
public sealed record LocalNodeInfo
{
    public string NodeId { get; init; } = string.Empty;

    /// <summary>The address other nodes reach this one at (no port).</summary>
    public string NodeAddr { get; init; } = string.Empty;

    /// <summary>One of <see cref="LocalNodeStates"/>.</summary>
    public string LocalNodeState { get; init; } = LocalNodeStates.Inactive;

    /// <summary>Whether this node is a manager whose control API answers.</summary>
    public bool ControlAvailable { get; init; }

    /// <summary>Why the node is in the error state; empty otherwise.</summary>
    public string Error { get; init; } = string.Empty;

    public IReadOnlyList<Peer> RemoteManagers { get; init; } = [];

    public string Hostname { get; init; } = string.Empty;

    public int NCPU { get; init; }

    public long MemTotal { get; init; }

    /// <summary>For example "Debian GNU/Linux 12 (bookworm)".</summary>
    public string OperatingSystem { get; init; } = string.Empty;

    public string KernelVersion { get; init; } = string.Empty;

    /// <summary>As Go names it: "x86_64" in <c>/info</c>; <c>/version</c> derives "amd64".</summary>
    public string Architecture { get; init; } = string.Empty;

    /// <summary>Shoal's version, shown as the engine version.</summary>
    public string Version { get; init; } = "0.1.0";
}

/// <summary>Values of <see cref="LocalNodeInfo.LocalNodeState"/>.</summary>
public static class LocalNodeStates
{
    public const string Inactive = "inactive";
    public const string Pending = "pending";
    public const string Active = "active";
    public const string Error = "error";
    public const string Locked = "locked";
}
