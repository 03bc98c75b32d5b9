using Microsoft.Extensions.Logging;
using Shoal.Api;
using Shoal.Raft;
using Shoal.Store;

namespace Shoal.Manager;

/// <summary>
/// Moves each node's role towards the one its spec asks for (DESIGN §8), on the leader:
/// <list type="bullet">
/// <item>a promotion sets <c>Node.role</c> to manager; the node learns it through its session, renews its certificate
/// as a manager's, starts its manager part and joins the Raft group itself;</item>
/// <item>a demotion removes the node from the Raft group — after handing leadership over when it is this leader, and
/// never when the managers left reachable would be no quorum — then sets <c>Node.role</c> to worker; the node renews
/// its certificate as a worker's and stops its manager part.</item>
/// </list>
/// </summary>
public sealed partial class RoleManager(MemoryStore store, RaftNode raft, ILogger<RoleManager> logger)
{
    /// <summary>How often pending changes are tried again when nothing in the store moves.</summary>
    public static readonly TimeSpan RetryInterval = TimeSpan.FromSeconds(1);

    /// <summary>Reconciles until cancelled (leadership lost).</summary>
    public async Task RunAsync(CancellationToken cancellationToken)
    {
        var (_, watcher) = store.ViewAndWatch(new WatchOptions { Filter = StoreEventFilters.Of<Node>() });
        using (watcher)
        {
            while (!cancellationToken.IsCancellationRequested)
            {
                try
                {
                    await ReconcileAsync(cancellationToken).ConfigureAwait(false);
                }
                catch (Exception e) when (e is Raft.Core.NotLeaderException or LeadershipLostException)
                {
                    return;
                }
                catch (Exception e) when (e is not OperationCanceledException)
                {
                    LogFailed(logger, e);
                }

                // Wake on a node change, or retry pending changes after a while.
                using var wait = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
                wait.CancelAfter(RetryInterval);
                try
                {
                    await watcher.WaitToReadAsync(wait.Token).ConfigureAwait(false);
                    while (watcher.TryRead(out _))
                    {
                    }
                }
                catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
                {
                }
            }
        }
    }

    /// <summary>One pass over every node whose role differs from the one it should have.</summary>
    internal async Task ReconcileAsync(CancellationToken cancellationToken)
    {
        await RecordManagerStatusAsync(cancellationToken).ConfigureAwait(false);
        foreach (var node in store.View().Nodes.All())
        {
            var desired = node.Spec?.DesiredRole ?? node.Role;
            if (desired == NodeRole.Manager && node.Role == NodeRole.Worker)
            {
                await SetRoleAsync(node.Id, NodeRole.Manager, cancellationToken).ConfigureAwait(false);
                LogPromoted(logger, node.Id);
            }
            else if (desired == NodeRole.Worker && node.Role == NodeRole.Manager)
            {
                await DemoteAsync(node, cancellationToken).ConfigureAwait(false);
            }
        }
    }

    /// <summary>Gives every Raft member's node its Raft ID and address (members that joined since the last pass).</summary>
    private async Task RecordManagerStatusAsync(CancellationToken cancellationToken)
    {
        var view = store.View();
        var stale = raft.Members
            .Where(m => view.Nodes.Get(m.NodeId) is { } node && (node.ManagerStatus?.RaftId != m.RaftId || node.ManagerStatus.Addr != m.Addr))
            .ToList();
        if (stale.Count == 0)
        {
            return;
        }

        await store.UpdateAsync(tx =>
        {
            foreach (var member in stale)
            {
                if (tx.Nodes.Get(member.NodeId) is { } current)
                {
                    var updated = current.Clone();
                    updated.ManagerStatus = new ManagerStatus { RaftId = member.RaftId, Addr = member.Addr, Reachability = RaftReachability.Reachable };
                    tx.Update(updated);
                }
            }
        }, cancellationToken).ConfigureAwait(false);
    }

    private async Task DemoteAsync(Node node, CancellationToken cancellationToken)
    {
        var member = raft.Members.FirstOrDefault(m => m.NodeId == node.Id);
        if (member is not null)
        {
            if (member.RaftId == raft.Id)
            {
                // The leader cannot remove itself and keep leading: hand over to a reachable member first; the new
                // leader's role manager finishes the demotion.
                var successor = raft.Members.FirstOrDefault(m => m.RaftId != raft.Id && raft.IsReachable(m.RaftId));
                if (successor is null)
                {
                    LogNoSuccessor(logger, node.Id);
                    return;
                }

                LogTransferring(logger, node.Id, successor.NodeId);
                await raft.TransferLeadershipAsync(successor.RaftId, cancellationToken).ConfigureAwait(false);
                return;
            }

            if (!ManagerQuorum.CanRemove(raft, member.RaftId, out var reason))
            {
                LogQuorumHeld(logger, node.Id, reason);
                return;
            }

            await raft.RemoveMemberAsync(member.RaftId, cancellationToken).ConfigureAwait(false);
        }

        await SetRoleAsync(node.Id, NodeRole.Worker, cancellationToken).ConfigureAwait(false);
        LogDemoted(logger, node.Id);
    }

    private async Task SetRoleAsync(string nodeId, NodeRole role, CancellationToken cancellationToken) =>
        await store.UpdateAsync(tx =>
        {
            if (tx.Nodes.Get(nodeId) is not { } current || current.Role == role)
            {
                return;
            }

            var updated = current.Clone();
            updated.Role = role;
            if (role == NodeRole.Worker)
            {
                updated.ManagerStatus = null;
            }

            tx.Update(updated);
        }, cancellationToken).ConfigureAwait(false);

    [LoggerMessage(EventId = 5101, Level = LogLevel.Information, Message = "Promoted node {NodeId} to manager; it joins the managers once it has its new certificate")]
    private static partial void LogPromoted(ILogger logger, string nodeId);

    [LoggerMessage(EventId = 5102, Level = LogLevel.Information, Message = "Demoted node {NodeId} to worker (removed from the Raft group)")]
    private static partial void LogDemoted(ILogger logger, string nodeId);

    [LoggerMessage(EventId = 5103, Level = LogLevel.Information, Message = "Demoting node {NodeId}, the leader: handing leadership to {Successor} first")]
    private static partial void LogTransferring(ILogger logger, string nodeId, string successor);

    [LoggerMessage(EventId = 5104, Level = LogLevel.Warning, Message = "Demoting node {NodeId}, the leader, waits: no other manager is reachable to take over")]
    private static partial void LogNoSuccessor(ILogger logger, string nodeId);

    [LoggerMessage(EventId = 5105, Level = LogLevel.Warning, Message = "Demoting node {NodeId} waits: {Reason}")]
    private static partial void LogQuorumHeld(ILogger logger, string nodeId, string reason);

    [LoggerMessage(EventId = 5106, Level = LogLevel.Warning, Message = "Reconciling node roles failed; retrying")]
    private static partial void LogFailed(ILogger logger, Exception exception);
}

/// <summary>Whether the managers keep a quorum without one of them.</summary>
public static class ManagerQuorum
{
    /// <summary>
    /// Whether removing member <paramref name="raftId"/> leaves a group whose reachable members are a majority of it,
    /// and at least one manager. Says why not in <paramref name="reason"/>.
    /// </summary>
    public static bool CanRemove(RaftNode raft, ulong raftId, out string reason)
    {
        var members = raft.Members;
        var remaining = members.Where(m => m.RaftId != raftId).ToList();
        if (remaining.Count == 0)
        {
            reason = "it is the last manager of the swarm; promote another node first, or leave the swarm with --force";
            return false;
        }

        var reachable = remaining.Count(m => raft.IsReachable(m.RaftId));
        var quorum = (remaining.Count / 2) + 1;
        if (reachable < quorum)
        {
            reason = $"this would result in a loss of quorum: {reachable} of the {remaining.Count} remaining managers are reachable, and {quorum} are needed";
            return false;
        }

        reason = string.Empty;
        return true;
    }
}
