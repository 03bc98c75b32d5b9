using System.Diagnostics;
using System.Net;
using System.Security.Cryptography.X509Certificates;
using Microsoft.Extensions.DependencyInjection;
using Shoal.Agent;
using Shoal.Api;
using Shoal.Api.Naming;
using Shoal.Ca;
using Shoal.Ca.Certificates;
using Shoal.Manager.Dispatcher;
using Shoal.Store;
using Shoal.TestKit;

namespace Shoal.Manager.Tests.Dispatching;

/// <summary>The dispatcher on a real three-manager Raft group: it follows leadership and nothing is lost across a failover.</summary>
public sealed class RaftFailoverTests
{
    [Fact]
    public async Task WhenTheLeaderDies_TheNewLeadersDispatcherMarksNodesUnknown_AndTheWorkerComesBackReady()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var group = await ManagerGroup.StartAsync(3);
        var options = new DispatcherOptions { DefaultHeartbeatPeriod = TimeSpan.FromMilliseconds(250) };
        var ports = new Dictionary<ManagerGroup.Member, ClusterPortServer>();
        try
        {
            foreach (var member in group.Members)
            {
                var store = member.Store!;
                ports[member] = await ClusterPortServer.StartAsync(new IPEndPoint(IPAddress.Loopback, 0), member.Security, NoRemovedNodes.Instance, p =>
                {
                    p.Services.AddSingleton(store);
                    p.Services.AddSingleton(options);
                    p.MapDispatcher();
                }, cancellationToken: ct);
            }

            var leader = group.Leader;
            var worker = IssueWorker(group);
            await leader.Store!.UpdateAsync(tx =>
            {
                tx.Create(ClusterSecurity.NewNode(worker.NodeId, NodeRole.Worker, worker.CertificatePem, []));
                foreach (var member in group.Members)
                {
                    var node = ClusterSecurity.NewNode(member.Self.NodeId, NodeRole.Manager, string.Empty, []);
                    node.ManagerStatus = new ManagerStatus { RaftId = member.Self.RaftId, Addr = ports[member].HostPort };
                    tx.Create(node);
                }
            }, ct);

            using var leading = new CancellationTokenSource();
            var run = Dispatch(ports[leader]).RunAsync(leading.Token);
            var session = new AgentSession(new NodeSecurity(worker), new AgentOptions
            {
                Managers = [ports[leader].HostPort],
                InitialBackoff = TimeSpan.FromMilliseconds(50),
                MaxBackoff = TimeSpan.FromMilliseconds(400),
            }, new InMemoryAssignmentSink());
            await using var agent = new RunningAgent(session);
            await Eventually.TrueAsync(() => leader.Store.View().Nodes.Get(worker.NodeId)?.Status.State == NodeState.Ready && session.Managers.Count == 3, "the worker READY through the leader");

            // The leader dies: its dispatcher stops with it, and another member is elected.
            await leading.CancelAsync();
            await Assert.ThrowsAnyAsync<OperationCanceledException>(() => run);
            await ports[leader].DisposeAsync();
            ports.Remove(leader);
            await leader.StopAsync();
            var failover = Stopwatch.StartNew();
            var next = await group.WaitForLeaderAsync();
            using var watcher = next.Store!.Watch(new WatchOptions { Filter = StoreEventFilters.Of<Node>(n => n.Id == worker.NodeId) });
            using var nextLeading = new CancellationTokenSource();
            var nextRun = Dispatch(ports[next]).RunAsync(nextLeading.Token);

            await Eventually.TrueAsync(() => session.ManagerAddress == ports[next].HostPort && next.Store.View().Nodes.Get(worker.NodeId)?.Status.State == NodeState.Ready, "the worker READY through the new leader", TimeSpan.FromSeconds(30));
            TestContext.Current.TestOutputHelper?.WriteLine($"worker READY through the new leader {failover.ElapsedMilliseconds} ms after the old leader stopped (election + reconnection)");
            var states = new List<NodeState>();
            while (watcher.TryRead(out var e))
            {
                states.Add(((Node)e.Target!).Status.State);
            }

            Assert.Equal([NodeState.Unknown, NodeState.Ready], states);
            await nextLeading.CancelAsync();
            await Assert.ThrowsAnyAsync<OperationCanceledException>(() => nextRun);
        }
        finally
        {
            foreach (var port in ports.Values)
            {
                await port.DisposeAsync();
            }
        }
    }

    private static Manager.Dispatcher.Dispatcher Dispatch(ClusterPortServer port) => port.Services.GetRequiredService<Manager.Dispatcher.Dispatcher>();

    private static NodeCredentials IssueWorker(ManagerGroup group)
    {
        using var key = NodeKeys.Create();
        using var certificate = group.Ca.SignNodeCertificate(NodeKeys.CreateSigningRequest(key), Identity.NewId(), NodeRole.Worker, group.ClusterId, TimeSpan.FromDays(1), DateTimeOffset.UtcNow);
        return NodeCredentials.Create(certificate, key, X509Certificate2.CreateFromPem(group.Ca.CertificatePem));
    }
}
