using System.Diagnostics.CodeAnalysis;

namespace Shoal.Manager.ControlApi;

/// <summary>
/// What the control API asks Raft membership before it lets a manager go: the answer depends on which managers are
/// members and reachable now, which only the Raft side knows. Calls are quick, in-memory checks.
/// </summary>
public interface IManagerQuorum
{
    /// <summary>
    /// Whether the manager <paramref name="nodeId"/> may be demoted to worker: false when the remaining managers would
    /// not have a quorum, or when it is the last manager; <paramref name="reason"/> then says why, for the operator.
    /// </summary>
    bool CanDemote(string nodeId, [NotNullWhen(false)] out string? reason);

    /// <summary>
    /// Whether the node <paramref name="nodeId"/> may be removed from the swarm as far as Raft is concerned: false while
    /// it is still a member of the Raft group (a demotion not yet carried out); <paramref name="reason"/> says why.
    /// </summary>
    bool CanRemove(string nodeId, [NotNullWhen(false)] out string? reason);

    /// <summary>
    /// Fills in what only Raft knows of a manager's node as it is read (<c>ManagerStatus.Leader</c> and
    /// <c>Reachability</c>): these change with every election and are never written to the store. Leaves the node as it
    /// is by default.
    /// </summary>
    void Annotate(Shoal.Api.Node node)
    {
    }
}
