using System.Diagnostics.CodeAnalysis;
using Shoal.Api;

namespace Shoal.Manager.ControlApi;

/// <summary>
/// The control API's view of Raft membership on a running manager: quorum checks for demotions and removals, and the
/// leader and reachability of each manager as this member sees them now.
/// </summary>
public sealed class RaftManagerQuorum(SwarmManagerState state) : IManagerQuorum
{
    /// <inheritdoc/>
    public bool CanDemote(string nodeId, [NotNullWhen(false)] out string? reason)
    {
        var (raft, _) = state.Require();
        var member = raft.Members.FirstOrDefault(m => m.NodeId == nodeId);
        if (member is null)
        {
            reason = null;
            return true;
        }

        if (!ManagerQuorum.CanRemove(raft, member.RaftId, out var why))
        {
            reason = $"node {nodeId}: can't demote: {why}";
            return false;
        }

        reason = null;
        return true;
    }

    /// <inheritdoc/>
    public bool CanRemove(string nodeId, [NotNullWhen(false)] out string? reason)
    {
        var (raft, _) = state.Require();
        if (raft.Members.Any(m => m.NodeId == nodeId))
        {
            reason = $"node {nodeId} is still a member of the managers' Raft group; demote it and wait until `node ls` shows it as a worker, then remove it";
            return false;
        }

        reason = null;
        return true;
    }

    /// <inheritdoc/>
    public void Annotate(Node node)
    {
        ArgumentNullException.ThrowIfNull(node);
        if (state.Raft is not { } raft || node.ManagerStatus is not { } status)
        {
            return;
        }

        var member = raft.Members.FirstOrDefault(m => m.NodeId == node.Id);
        if (member is null)
        {
            status.Leader = false;
            return;
        }

        var leadership = raft.Leadership;
        status.Leader = leadership.Leader == member.RaftId;

        // Only the leader hears from every member; a follower vouches for itself and the leader it hears from.
        var known = raft.IsLeader || member.RaftId == raft.Id || status.Leader;
        status.Reachability = known && raft.IsReachable(member.RaftId) ? RaftReachability.Reachable
            : known ? RaftReachability.Unreachable
            : status.Reachability;
    }
}
