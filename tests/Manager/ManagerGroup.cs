using System.Net;
using Google.Protobuf;
using Shoal.Api;
using Shoal.Api.Naming;
using Shoal.Ca;
using Shoal.Ca.Certificates;
using Shoal.Manager;
using Shoal.Raft;
using Shoal.Raft.Transport;
using Shoal.Store;

namespace Shoal.Manager.Tests;

/// <summary>
/// Managers in one process, each with its own cluster port (real Kestrel, mutual TLS on loopback), its own Raft WAL
/// and snapshots on disk, and a store glued to Raft by <see cref="StoreProposer"/>. Members can be stopped and
/// restarted from their directories.
/// </summary>
internal sealed class ManagerGroup : IAsyncDisposable
{
    private readonly string _root = Directory.CreateTempSubdirectory("shoal-raft-").FullName;
    private readonly RootCertificateAuthority _ca = RootCertificateAuthority.Create(DateTimeOffset.UtcNow);
    private readonly string _clusterId = Identity.NewId();

    public List<Member> Members { get; } = [];

    /// <summary>The group's root CA, to certify workers.</summary>
    public RootCertificateAuthority Ca => _ca;

    public string ClusterId => _clusterId;

    public Func<RaftNodeOptions, RaftNodeOptions> Configure { get; init; } = o => o;

    public static async Task<ManagerGroup> StartAsync(int size, Func<RaftNodeOptions, RaftNodeOptions>? configure = null)
    {
        var group = new ManagerGroup { Configure = configure ?? (o => o) };
        var first = await group.AddMemberAsync(bootstrap: true);
        await group.WaitForLeaderAsync();
        for (var i = 1; i < size; i++)
        {
            await group.JoinAsync();
        }

        return group;
    }

    public Member Leader => Members.Single(m => m.Running && m.Raft!.IsLeader);

    /// <summary>Starts a new member and has the leader add it.</summary>
    public async Task<Member> JoinAsync()
    {
        var leader = await WaitForLeaderAsync();
        var member = await AddMemberAsync(bootstrap: false, peers: leader.Raft!.Members);

        // Growing from one member to two, the group has no quorum until the newcomer answers, and on a loaded
        // machine the leader may step down meanwhile: ask whoever leads until the change is applied (adding a
        // member that is already there changes nothing).
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(60);
        while (true)
        {
            try
            {
                await (await WaitForLeaderAsync()).Raft!.AddMemberAsync(member.Self);
                return member;
            }
            catch (Exception e) when (e is Shoal.Raft.Core.NotLeaderException or LeadershipLostException && DateTime.UtcNow < deadline)
            {
                await Task.Delay(50);
            }
        }
    }

    public async Task<Member> WaitForLeaderAsync(TimeSpan? timeout = null)
    {
        var deadline = DateTime.UtcNow + (timeout ?? TimeSpan.FromSeconds(20));
        while (DateTime.UtcNow < deadline)
        {
            var leaders = Members.Where(m => m.Running && m.Raft!.IsLeader).ToList();
            if (leaders.Count == 1)
            {
                return leaders[0];
            }

            await Task.Delay(20);
        }

        throw new TimeoutException("no single leader was elected: " + string.Join(", ", Members.Select(m => $"{m.Self.RaftId}:{(m.Running ? m.Raft!.Leadership.ToString() : "stopped")}")));
    }

    private async Task<Member> AddMemberAsync(bool bootstrap, IReadOnlyList<RaftMember>? peers = null)
    {
        var raftId = (ulong)(Members.Count + 1);
        var nodeId = Identity.NewId();
        using var key = NodeKeys.Create();
        using var certificate = _ca.SignNodeCertificate(NodeKeys.CreateSigningRequest(key), nodeId, NodeRole.Manager, _clusterId, TimeSpan.FromDays(1), DateTimeOffset.UtcNow);
        var credentials = NodeCredentials.Create(certificate, key, System.Security.Cryptography.X509Certificates.X509Certificate2.CreateFromPem(_ca.CertificatePem));
        var member = new Member(this, new NodeSecurity(credentials), Path.Combine(_root, $"m{raftId}"), raftId);
        await member.StartPortAsync();
        member.Self = new RaftMember { RaftId = raftId, NodeId = nodeId, Addr = member.Port!.HostPort };
        Members.Add(member);
        await member.StartRaftAsync(bootstrap, peers);
        return member;
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var member in Members)
        {
            await member.StopAsync();
            if (member.Port is not null)
            {
                await member.Port.DisposeAsync();
            }
        }

        _ca.Dispose();
        Directory.Delete(_root, recursive: true);
    }

    internal sealed class Member(ManagerGroup group, NodeSecurity security, string directory, ulong raftId)
    {
        private readonly RaftMessageRelay _relay = new();

        public RaftMember Self { get; set; } = new() { RaftId = raftId };

        public NodeSecurity Security => security;

        public ClusterPortServer? Port { get; private set; }

        public RaftNode? Raft { get; private set; }

        public MemoryStore? Store { get; private set; }

        public StoreProposer? Proposer { get; private set; }

        public bool Running => Raft is not null;

        public string Directory { get; } = directory;

        public async Task StartPortAsync()
        {
            Port = await ClusterPortServer.StartAsync(
                new IPEndPoint(IPAddress.Loopback, 0), security, NoRemovedNodes.Instance, port => port.MapRaft(_relay));
        }

        public async Task StartRaftAsync(bool bootstrap = false, IReadOnlyList<RaftMember>? peers = null)
        {
            var proposer = new StoreProposer();
            Proposer = proposer;
            Store = proposer.CreateStore();
            var options = group.Configure(new RaftNodeOptions
            {
                Directory = Directory,
                Self = Self,
                TickInterval = TimeSpan.FromMilliseconds(20),
                ElectionTick = 10,
            });
            Raft = await RaftNode.StartAsync(options, proposer, security, bootstrap, peers);
            proposer.Attach(Raft);
            _relay.Target = Raft.Sink;
        }

        public async Task StopAsync()
        {
            _relay.Target = null;
            if (Raft is not null)
            {
                await Raft.DisposeAsync();
                Raft = null;
            }

            Store?.Dispose();
            Store = null;
        }

        /// <summary>A digest of the whole store (its snapshot bytes).</summary>
        public string Digest() => Convert.ToHexString(System.Security.Cryptography.SHA256.HashData(MemoryStore.Save(Store!.View()).ToByteArray()));
    }
}
