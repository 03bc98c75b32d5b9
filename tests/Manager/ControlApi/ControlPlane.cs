using System.Diagnostics.CodeAnalysis;
using System.Net;
using Grpc.Net.Client;
using Microsoft.Extensions.DependencyInjection;
using Shoal.Api;
using Shoal.Api.Naming;
using Shoal.Ca;
using Shoal.Ca.Certificates;
using Shoal.Ca.Client;
using Shoal.Manager.ControlApi;
using Shoal.Store;

namespace Shoal.Manager.Tests.ControlApi;

/// <summary>
/// A manager's control API for tests: a swarm initialized in a Raft-less store (or one behind a given proposer), the
/// real cluster port with mutual TLS on loopback serving <see cref="ControlApiServer"/>, and a client holding the first
/// manager's certificate. Shared with the Docker API tests.
/// </summary>
internal sealed class ControlPlane : IAsyncDisposable
{
    private ControlPlane(MemoryStore store, ClusterPortServer server, NodeCredentials manager, FakeQuorum quorum, GrpcChannel channel)
    {
        Store = store;
        Server = server;
        Manager = manager;
        Quorum = quorum;
        Channel = channel;
        Client = new Control.ControlClient(channel);
    }

    public MemoryStore Store { get; }

    public ClusterPortServer Server { get; }

    public NodeCredentials Manager { get; }

    /// <summary>The first manager's node ID (the node <c>swarm init</c> created).</summary>
    public string ManagerId => Manager.NodeId;

    public FakeQuorum Quorum { get; }

    public GrpcChannel Channel { get; }

    public Control.ControlClient Client { get; }

    public Cluster Cluster => ClusterSecurity.FindCluster(Store.View())!;

    public static async Task<ControlPlane> StartAsync(IProposer? proposer = null)
    {
        var time = TimeProvider.System;
        var store = new MemoryStore(proposer);
        var credentials = await ClusterSecurity.InitializeAsync(store, time);
        var quorum = new FakeQuorum();
        await store.UpdateAsync(tx =>
        {
            var node = tx.Nodes.Get(credentials.NodeId)!.Clone();
            node.Description = Description("manager-1");
            node.Status = new NodeStatus { State = NodeState.Ready, Addr = "127.0.0.1" };
            node.ManagerStatus = new ManagerStatus { RaftId = 1, Addr = "127.0.0.1:4242", Leader = true, Reachability = RaftReachability.Reachable };
            tx.Update(node);
        });
        var server = await ClusterPortServer.StartAsync(
            new IPEndPoint(IPAddress.Loopback, 0),
            new NodeSecurity(credentials, time),
            new StoreRemovedNodes(store),
            port =>
            {
                port.Services.AddSingleton(store);
                port.Services.AddSingleton(time);
                port.Services.AddSingleton<IManagerQuorum>(quorum);
                port.MapControlApi();
            });
        var channel = ClusterChannels.Create(server.HostPort, new NodeSecurity(credentials, time));
        return new ControlPlane(store, server, credentials, quorum, channel);
    }

    /// <summary>Records a node the way the CA and the dispatcher would have (joined, described, with a status).</summary>
    public async Task<Shoal.Api.Node> AddNodeAsync(
        string hostname,
        NodeRole role = NodeRole.Worker,
        NodeState state = NodeState.Ready,
        string? name = null,
        IReadOnlyDictionary<string, string>? labels = null,
        IReadOnlyDictionary<string, string>? engineLabels = null,
        NodeMembership membership = NodeMembership.Accepted,
        string? id = null)
    {
        var node = ClusterSecurity.NewNode(id ?? Identity.NewId(), role, string.Empty, []);
        node.Description = Description(hostname);
        node.Status = new NodeStatus { State = state, Addr = "10.0.0.9" };
        node.Spec.Membership = membership;
        if (name is not null)
        {
            node.Spec.Annotations.Name = name;
        }

        foreach (var (key, value) in labels ?? new Dictionary<string, string>())
        {
            node.Spec.Annotations.Labels[key] = value;
        }

        foreach (var (key, value) in engineLabels ?? new Dictionary<string, string>())
        {
            node.Description.Engine.Labels[key] = value;
        }

        if (role == NodeRole.Manager)
        {
            node.ManagerStatus = new ManagerStatus { RaftId = 2, Addr = "10.0.0.9:4242", Reachability = RaftReachability.Reachable };
        }

        await Store.UpdateAsync(tx => tx.Create(node));
        return Store.View().Nodes.Get(node.Id)!;
    }

    public Shoal.Api.Node Node(string id) => Store.View().Nodes.Get(id)!;

    public async ValueTask DisposeAsync()
    {
        Channel.Dispose();
        await Server.DisposeAsync();
        Store.Dispose();
    }

    private static NodeDescription Description(string hostname) => new()
    {
        Hostname = hostname,
        Platform = new Platform { Architecture = "x86_64", Os = "linux" },
        Resources = new Resources { NanoCpus = 2_000_000_000, MemoryBytes = 4L << 30 },
        Engine = new EngineDescription { EngineVersion = "0.1.0" },
    };
}

/// <summary>Raft membership as a test wants it: allows everything unless told to refuse, and records what it was asked.</summary>
internal sealed class FakeQuorum : IManagerQuorum
{
    /// <summary>When set, demotions are refused with this reason.</summary>
    public string? RefuseDemotion { get; set; }

    /// <summary>When set, removals are refused with this reason.</summary>
    public string? RefuseRemoval { get; set; }

    public List<string> Asked { get; } = [];

    public bool CanDemote(string nodeId, [NotNullWhen(false)] out string? reason)
    {
        Asked.Add("demote " + nodeId);
        reason = RefuseDemotion;
        return reason is null;
    }

    public bool CanRemove(string nodeId, [NotNullWhen(false)] out string? reason)
    {
        Asked.Add("remove " + nodeId);
        reason = RefuseRemoval;
        return reason is null;
    }
}
