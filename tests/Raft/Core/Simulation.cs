using System.Text;
using Google.Protobuf;
using Shoal.Api;
using Shoal.Raft.Core;

namespace Shoal.Raft.Tests.Core;

/// <summary>
/// The knobs of one simulated run. Everything is drawn from the seed, so that the seed alone replays the run.
/// </summary>
internal sealed record SimulationSettings
{
    public required int Seed { get; init; }

    /// <summary>Voters at the start (3 for even seeds, 5 for odd ones).</summary>
    public int Members { get; init; } = 3;

    /// <summary>Ticks with faults, then at most <see cref="QuiesceTicks"/> without, in which the group must converge.</summary>
    public int FaultTicks { get; init; } = 800;

    public int QuiesceTicks { get; init; } = 400;

    public double DropRate { get; init; }

    public double DuplicateRate { get; init; }

    /// <summary>Ordinary message delay, in units of a tenth of a tick (1 to this).</summary>
    public int MaxDelay { get; init; } = 5;

    /// <summary>Share of messages held back for up to a few ticks (they arrive out of order).</summary>
    public double LongDelayRate { get; init; }

    /// <summary>Mean ticks between events of each kind (0 = never).</summary>
    public int CrashEvery { get; init; }

    public int PartitionEvery { get; init; }

    public int MembershipEvery { get; init; }

    public int TransferEvery { get; init; }

    /// <summary>Applied entries between a member's snapshots (then its log is compacted).</summary>
    public int SnapshotEvery { get; init; } = 20;

    public long MaxSizePerMessage { get; init; } = 1024 * 1024;

    public int MaxInflightMessages { get; init; } = 256;

    public int ElectionTick { get; init; } = 10;

    public int HeartbeatTick { get; init; } = 1;

    public bool PreVote { get; init; } = true;

    public bool CheckQuorum { get; init; } = true;

    public int Clients { get; init; } = 3;

    /// <summary>Keys in use at a time; a key is retired after <see cref="OperationsPerKey"/> operations.</summary>
    public int ActiveKeys { get; init; } = 3;

    public int OperationsPerKey { get; init; } = 16;

    /// <summary>How many of the last events a failure prints (SHOAL_SIM_TRACE raises it when replaying).</summary>
    public int TraceLength { get; init; } = 80;

    /// <summary>For the test of the checker only: reads served from any member's state without ReadIndex.</summary>
    public bool UnsafeLocalReads { get; init; }

    public static SimulationSettings FromSeed(int seed)
    {
        var rng = new Random(seed ^ 0x5EED5EED);
        T Pick<T>(params T[] choices) => choices[rng.Next(choices.Length)];
        var bothGuards = rng.Next(4) != 0;
        return new SimulationSettings
        {
            Seed = seed,
            Members = seed % 2 == 0 ? 3 : 5,
            DropRate = Pick(0, 0.01, 0.05, 0.1, 0.2),
            DuplicateRate = Pick(0, 0.01, 0.05),
            MaxDelay = Pick(2, 5, 15),
            LongDelayRate = Pick(0, 0.01, 0.05),
            CrashEvery = Pick(0, 60, 150),
            PartitionEvery = Pick(0, 40, 100),
            MembershipEvery = Pick(0, 80, 200),
            TransferEvery = Pick(0, 50, 150),
            SnapshotEvery = Pick(3, 10, 40),
            MaxSizePerMessage = Pick(1L, 100L, 1024 * 1024),
            MaxInflightMessages = Pick(1, 4, 256),
            ElectionTick = Pick(5, 10, 10, 20),
            HeartbeatTick = Pick(1, 1, 2, 3),
            PreVote = bothGuards || rng.Next(2) == 0,
            CheckQuorum = bothGuards || rng.Next(2) == 0,
        };
    }

    public override string ToString() =>
        $"{Members} members, drop {DropRate}, duplicate {DuplicateRate}, delay ≤{MaxDelay}, long delays {LongDelayRate}, " +
        $"crash/{CrashEvery}, partition/{PartitionEvery}, membership/{MembershipEvery}, transfer/{TransferEvery}, " +
        $"snapshot every {SnapshotEvery}, max message {MaxSizePerMessage} B, inflight {MaxInflightMessages}, " +
        $"election {ElectionTick} ticks, heartbeat {HeartbeatTick}, " +
        $"pre-vote {PreVote}, check-quorum {CheckQuorum}";
}

/// <summary>What a run did, and the first violation it found (null = none).</summary>
internal sealed record SimulationResult(SimulationSettings Settings, string? Failure, ulong Fingerprint, SimulationStats Stats)
{
    public static string ReplayCommand(int seed) => $"cd tests/Raft && SHOAL_SIM_SEED={seed} dotnet run --no-build -- --filter-method \"*Replay*\"";

    public string Describe() =>
        $"simulation seed {Settings.Seed} ({Settings}): {Failure ?? "passed"}\n{Stats}, fingerprint {Fingerprint:x16}\nreplay: {ReplayCommand(Settings.Seed)}";
}

internal sealed class SimulationStats
{
    public int Elections { get; set; }

    public int WritesAcknowledged { get; set; }

    public int WritesLost { get; set; }

    public int WritesUnknown { get; set; }

    public int ReadsAnswered { get; set; }

    public int Crashes { get; set; }

    public int Partitions { get; set; }

    public int MembershipChanges { get; set; }

    public int Transfers { get; set; }

    public int SnapshotsTaken { get; set; }

    public int SnapshotsInstalled { get; set; }

    public int MessagesSent { get; set; }

    public ulong LastIndex { get; set; }

    public override string ToString() =>
        $"elections {Elections}, writes acknowledged {WritesAcknowledged} / lost {WritesLost} / unknown {WritesUnknown}, " +
        $"reads {ReadsAnswered}, crashes {Crashes}, partitions {Partitions}, membership changes {MembershipChanges}, " +
        $"transfers {Transfers}, snapshots taken {SnapshotsTaken} / installed {SnapshotsInstalled}, " +
        $"messages {MessagesSent}, last index {LastIndex}";
}

/// <summary>
/// A deterministic simulation of a Raft group of <see cref="RaftCore"/>s with their drivers, a faulty network, crashes
/// that lose what was not synced, membership changes, leadership transfers, snapshots and clients doing writes and
/// linearizable reads on a key-value register map. One seeded <see cref="Random"/> decides everything and time is
/// logical (a tick is ten units), so a seed replays its run exactly.
/// </summary>
/// <remarks>
/// Checked while running: election safety (one leader per term over the whole run), leader append-only, state
/// machine safety (every member applies the same entry and reaches the same state at each index; snapshots match
/// the state at their index), leader completeness (a new leader holds every entry applied anywhere before). At the
/// end: log matching over every pair of logs on disk, convergence after the faults stop, and linearizability of
/// the clients' history.
/// </remarks>
internal sealed class Simulation
{
    private const int TickUnits = 10;
    private const int ClientTimeoutTicks = 60;

    private readonly SimulationSettings _settings;
    private readonly Random _rng;
    private readonly SortedDictionary<ulong, Node> _nodes = [];
    private readonly PriorityQueue<Envelope, (long Time, long Seq)> _inFlight = new();
    private readonly HashSet<(ulong From, ulong To)> _blocked = [];
    private readonly Dictionary<ulong, ulong> _leaderOfTerm = [];
    private readonly Dictionary<ulong, AppliedEntry> _appliedAt = [];
    private readonly Dictionary<ulong, (ulong Hash, ulong Member)> _stateAt = [];
    private readonly List<Client> _clients = [];
    private readonly List<KvOperation> _history = [];
    private readonly List<string> _activeKeys = [];
    private readonly Dictionary<string, int> _keyUse = new(StringComparer.Ordinal);
    private readonly Queue<(long Now, string? Text, RaftMessage? Delivered)> _trace = new();
    private readonly SimulationStats _stats = new();

    private long _now;
    private long _seq;
    private long _clock;
    private long _healAtTick = -1;
    private ulong _nextId;
    private int _nextKey;
    private ulong _fingerprint = 14695981039346656037;
    private bool _faulty = true;
    private MembershipPlan? _plan;
    private int _nextChangeId;

    public Simulation(SimulationSettings settings)
    {
        _settings = settings;
        _rng = new Random(settings.Seed);
    }

    private long Tick => _now / TickUnits;

    private double DropRate => _faulty ? _settings.DropRate : 0;

    public static SimulationResult Run(int seed) => new Simulation(SimulationSettings.FromSeed(seed)).Run();

    public SimulationResult Run()
    {
        try
        {
            Start();
            var end = (long)_settings.FaultTicks * TickUnits;
            for (; _now < end; _now++)
            {
                Step();
            }

            Quiesce();
            FinalChecks();
            return new SimulationResult(_settings, null, _fingerprint, _stats);
        }
        catch (Exception failure)
        {
            var what = failure is SimulationFailure ? failure.Message : $"the core threw: {failure}";
            var trace = string.Join("\n", _trace.Select(t => "    " + Format(t)));
            return new SimulationResult(_settings, $"{what} (tick {Tick})\n  last events:\n{trace}", _fingerprint, _stats);
        }
    }

    // ------------------------------------------------------------------------------------------------------------
    // The run

    private void Start()
    {
        var bootstrap = new RaftSnapshot { Metadata = new RaftSnapshotMetadata(), Data = ByteString.Empty };
        for (var i = 1; i <= _settings.Members; i++)
        {
            bootstrap.Metadata.Members.Add(new RaftMember { RaftId = (ulong)i, NodeId = $"node{i}" });
        }

        for (var i = 1; i <= _settings.Members; i++)
        {
            var node = AddNode();
            node.Disk.Snapshot = bootstrap.Clone();
            Restart(node);
        }

        for (var c = 0; c < _settings.Clients; c++)
        {
            _clients.Add(new Client(c) { Target = (ulong)_rng.Next(1, _settings.Members + 1) });
        }

        for (var k = 0; k < _settings.ActiveKeys; k++)
        {
            _activeKeys.Add(NewKey());
        }
    }

    private Node AddNode()
    {
        // Clocks are not in step, and some run up to a tenth fast or slow.
        var node = new Node(++_nextId, _rng.Next(TickUnits), TickUnits - 1 + _rng.Next(3));
        _nodes[node.Id] = node;
        return node;
    }

    /// <summary>One unit of time: deliveries due now, ticks of the members whose clock strikes, clients, faults.</summary>
    private void Step()
    {
        while (_inFlight.TryPeek(out _, out var due) && due.Time <= _now)
        {
            Deliver(_inFlight.Dequeue());
        }

        foreach (var node in _nodes.Values.ToList())
        {
            if (node.Core is not null && (_now + node.Phase) % node.Period == 0)
            {
                Input(node, null, core => core.Tick());
            }
        }

        foreach (var client in _clients)
        {
            RunClient(client);
        }

        if (_now % TickUnits == 0)
        {
            EveryTick();
        }
    }

    private void EveryTick()
    {
        foreach (var node in _nodes.Values.ToList())
        {
            if (node.Core is null && !node.Decommissioned && node.RestartAtTick <= Tick)
            {
                Restart(node);
            }

            if (node.DecommissionAtTick <= Tick && !node.Decommissioned)
            {
                Decommission(node);
            }
        }

        if (_healAtTick == Tick)
        {
            _blocked.Clear();
            Trace("heal");
        }

        RunMembershipPlan();
        if (!_faulty)
        {
            return;
        }

        if (Chance(_settings.CrashEvery))
        {
            CrashSomeone();
        }

        if (Chance(_settings.PartitionEvery))
        {
            Partition();
        }

        if (_plan is null && Chance(_settings.MembershipEvery))
        {
            StartMembershipPlan();
        }

        if (Chance(_settings.TransferEvery) && Leader() is { } leader)
        {
            var voters = leader.Core!.Voters.Where(v => v != leader.Id).ToList();
            if (voters.Count > 0)
            {
                var target = voters[_rng.Next(voters.Count)];
                _stats.Transfers++;
                Input(leader, $"transfer to {target}", core => core.TransferLeadership(target));
            }
        }

        if (Tick % 50 == 0)
        {
            CheckLogMatching();
        }
    }

    private bool Chance(int every) => every > 0 && _rng.Next(every) == 0;

    /// <summary>
    /// The faults stop: the network heals, crashed members restart, a membership change under way finishes. The
    /// group must then elect a leader, bring every voter up to date, and serve clients again.
    /// </summary>
    private void Quiesce()
    {
        _faulty = false;
        _blocked.Clear();
        foreach (var node in _nodes.Values)
        {
            node.PendingCrash = CrashPoint.None;
            node.RestartAtTick = Math.Min(node.RestartAtTick, Tick);
        }

        Trace("quiesce");
        var writes = _stats.WritesAcknowledged;
        var reads = _stats.ReadsAnswered;
        var end = _now + ((long)_settings.QuiesceTicks * TickUnits);
        for (; _now < end; _now++)
        {
            Step();
            if (_now % TickUnits == 0 && _stats.WritesAcknowledged > writes && _stats.ReadsAnswered > reads && Converged())
            {
                return;
            }
        }

        var state = string.Join("; ", _nodes.Values.Where(n => !n.Decommissioned).Select(n => n.Core is { } c
            ? $"{n.Id}: {c.Role} term {c.Term} lead {c.Lead} commit {c.Committed} applied {c.Applied} last {c.LastIndex} voters [{string.Join(",", c.Voters)}]"
            : $"{n.Id}: down"));
        throw new SimulationFailure(
            $"liveness: {_settings.QuiesceTicks} ticks after the faults stopped the group has not converged " +
            $"(writes acknowledged meanwhile {_stats.WritesAcknowledged - writes}, reads {_stats.ReadsAnswered - reads}, " +
            $"membership change under way: {_plan is not null}); {state}");
    }

    private bool Converged()
    {
        if (_plan is not null || Leader() is not { } leader)
        {
            return false;
        }

        var core = leader.Core!;
        if (core.Committed != core.LastIndex)
        {
            return false;
        }

        foreach (var id in core.Voters)
        {
            if (!_nodes.TryGetValue(id, out var voter) || voter.Core is not { } v || v.Committed != core.Committed || voter.Applied != core.Committed)
            {
                return false;
            }
        }

        return true;
    }

    private void FinalChecks()
    {
        CheckLogMatching();
        if (Leader() is { } leader)
        {
            CheckLeaderCompleteness(leader);
        }

        // The converged state, read key by key: an acknowledged write that was lost without any later read of its
        // key shows here.
        if (Leader() is { } final)
        {
            foreach (var key in _keyUse.Keys.Order(StringComparer.Ordinal))
            {
                var invoked = ++_clock;
                _history.Add(new KvOperation(-1, key, false, final.Kv.GetValueOrDefault(key), invoked, ++_clock));
            }
        }

        _stats.WritesUnknown = _history.Count(o => o.IsWrite && o.Returned is null && !o.Lost);
        _stats.LastIndex = _appliedAt.Count == 0 ? 0 : _appliedAt.Keys.Max();
        if (LinearizabilityChecker.Check(_history) is { } violation)
        {
            throw new SimulationFailure("linearizability: " + violation);
        }

        foreach (var op in _history)
        {
            Fingerprint(Fnv(op.ToString(), 0));
        }
    }

    // ------------------------------------------------------------------------------------------------------------
    // Members: the driver loop, disk, crashes and restarts

    /// <summary>Feeds one input to a member's core, then runs its driver until it has nothing to do.</summary>
    private void Input(Node node, string? what, Action<RaftCore> input)
    {
        if (node.Core is not { } core)
        {
            return;
        }

        if (what is not null)
        {
            Trace($"{node.Id} {what}");
        }

        input(core);
        ObserveLeader(node);
        ProcessReadies(node);
    }

    /// <summary>
    /// The driver, as RaftNode's (docs/design/raft.md): persist, then send, then apply, then advance. A leader's
    /// appends and heartbeats go out before its own write (it counts itself only for what it persisted); everything
    /// else waits for the fsync. A crash can come before the write (after a leader's early sends) or after it.
    /// </summary>
    private void ProcessReadies(Node node)
    {
        while (node.Core is { } core && core.HasReady)
        {
            var ready = core.GetReady();
            var early = core.Role == RaftRole.Leader;
            static bool SentEarly(RaftMessage m) => m.Type is RaftMessageType.RaftMsgApp or RaftMessageType.RaftMsgHeartbeat;
            if (early)
            {
                foreach (var message in ready.Messages.Where(SentEarly))
                {
                    Send(node, message);
                }
            }

            if (node.PendingCrash == CrashPoint.BeforePersist)
            {
                Crash(node, "before persisting a Ready");
                return;
            }

            Persist(node, ready);
            if (node.PendingCrash == CrashPoint.AfterPersist)
            {
                Crash(node, "after persisting a Ready, before sending");
                return;
            }

            foreach (var message in ready.Messages.Where(m => !early || !SentEarly(m)))
            {
                Send(node, message);
            }

            Apply(node, ready);
            core.Advance(ready);
            ObserveLeader(node);
            MaybeSnapshot(node);
        }
    }

    private void Persist(Node node, Ready ready)
    {
        var disk = node.Disk;
        if (ready.Snapshot is { } snapshot)
        {
            disk.Snapshot = snapshot;
            disk.Entries.Clear();
        }

        if (ready.Entries.Count > 0)
        {
            var first = ready.Entries[0].Index;
            var lastOnDisk = disk.LastIndex;
            if (node.Core!.Role == RaftRole.Leader && first <= lastOnDisk)
            {
                throw new SimulationFailure($"leader append-only: leader {node.Id} of term {node.Core.Term} rewrites its log from {first} (it has {lastOnDisk})");
            }

            var keep = (long)first - (long)disk.Snapshot.Metadata.Index - 1;
            if (keep < 0 || keep > disk.Entries.Count)
            {
                throw new SimulationFailure($"member {node.Id} persists entries from {first}, which does not follow its log ({disk.Snapshot.Metadata.Index} + {disk.Entries.Count})");
            }

            disk.Entries.RemoveRange((int)keep, disk.Entries.Count - (int)keep);
            disk.Entries.AddRange(ready.Entries);
        }

        if (ready.MustSync)
        {
            // An fsync makes everything written before it durable too.
            disk.HardState = ready.HardState ?? disk.Unsynced ?? disk.HardState;
            disk.Unsynced = null;
        }
        else if (ready.HardState is { } hardState)
        {
            disk.Unsynced = hardState;
        }
    }

    private void Apply(Node node, Ready ready)
    {
        var core = node.Core!;
        if (ready.Snapshot is { } snapshot)
        {
            var index = snapshot.Metadata.Index;
            node.Kv = Deserialize(snapshot.Data);
            node.KvHash = Hash(node.Kv);
            node.Applied = index;
            node.LastSnapshotIndex = index;
            _stats.SnapshotsInstalled++;
            if (!_stateAt.TryGetValue(index, out var known) || known.Hash != StateHash(node))
            {
                throw new SimulationFailure($"state machine safety: member {node.Id} installed a snapshot at {index} whose state differs from the state members reached there");
            }

            Trace($"{node.Id} installed snapshot {index}@{snapshot.Metadata.Term}");
        }

        foreach (var entry in ready.CommittedEntries)
        {
            if (entry.Index != node.Applied + 1)
            {
                throw new SimulationFailure($"member {node.Id} applies {entry.Index} after {node.Applied}");
            }

            if (entry.Type == RaftEntryType.RaftEntryConfChange)
            {
                var change = RaftConfChange.Parser.ParseFrom(entry.Data);
                core.ApplyConfChange(change);
                Trace($"{node.Id} applied {entry.Index}@{entry.Term}: {change.Type} {change.Member.RaftId}, voters {string.Join(",", core.Voters)}");
                ObserveLeader(node);
                OnConfChangeApplied(change);
            }
            else if (!entry.Data.IsEmpty)
            {
                var (key, value) = Decode(entry.Data);
                node.KvHash ^= node.Kv.TryGetValue(key, out var old) ? PairHash(key, old) : 0;
                node.Kv[key] = value;
                node.KvHash ^= PairHash(key, value);
            }

            node.Applied = entry.Index;
            if (!_appliedAt.TryAdd(entry.Index, new AppliedEntry(entry.Term, entry.Data, node.Id)))
            {
                var first = _appliedAt[entry.Index];
                if (first.Term != entry.Term || !first.Data.Equals(entry.Data))
                {
                    throw new SimulationFailure(
                        $"state machine safety: member {node.Id} applied {entry.Index}@{entry.Term} ({Show(entry.Data)}) but member {first.Member} applied {entry.Index}@{first.Term} ({Show(first.Data)}) there");
                }
            }

            CheckState(node, "after applying");

            OnEntryApplied(node, entry);
        }

        foreach (var read in ready.ReadStates)
        {
            foreach (var client in _clients)
            {
                if (client.Op is { IsWrite: false } op && op.Node == node.Id && op.Incarnation == node.Incarnation && op.Context.Equals(read.Context))
                {
                    op.ReadIndex = read.Index;
                }
            }
        }

        ServeReads(node);
    }

    /// <summary>
    /// Every member that reaches an index, by applying entries or taking a snapshot, has the same state there: the
    /// same key-value map and the same voters.
    /// </summary>
    private void CheckState(Node node, string how)
    {
        if (!_stateAt.TryAdd(node.Applied, (StateHash(node), node.Id)) && _stateAt[node.Applied].Hash != StateHash(node))
        {
            throw new SimulationFailure($"state machine safety: member {node.Id} {how} {node.Applied} has a state that differs from member {_stateAt[node.Applied].Member}'s there");
        }
    }

    /// <summary>The driver compacts its log: the snapshot is the register map at the applied index.</summary>
    private void MaybeSnapshot(Node node)
    {
        var core = node.Core!;
        if (core.Applied < node.LastSnapshotIndex + (ulong)_settings.SnapshotEvery)
        {
            return;
        }

        var index = core.Applied;
        CheckState(node, "taking a snapshot at");
        var snapshot = new RaftSnapshot
        {
            Metadata = new RaftSnapshotMetadata { Index = index, Term = core.TermAt(index)!.Value },
            Data = Serialize(node.Kv),
        };
        snapshot.Metadata.Members.AddRange(core.Voters.Select(id => new RaftMember { RaftId = id, NodeId = $"node{id}" }));
        var keep = (ulong)_rng.Next(5);
        core.SetSnapshot(snapshot, index > keep ? index - keep : 0);
        node.Disk.Snapshot = snapshot;
        node.Disk.Entries.RemoveAll(e => e.Index <= index);
        node.LastSnapshotIndex = index;
        _stats.SnapshotsTaken++;
    }

    private void CrashSomeone()
    {
        var up = _nodes.Values.Where(n => n.Core is not null && n.PendingCrash == CrashPoint.None).ToList();
        var down = _nodes.Values.Count(n => !n.Decommissioned && n.Core is null);
        var voters = Leader()?.Core!.Voters.Count ?? _settings.Members;
        if (up.Count == 0 || down > (voters - 1) / 2 + (_rng.Next(5) == 0 ? 1 : 0))
        {
            return;
        }

        // The leader a third of the time: its crash is what loses unreplicated entries and starts elections.
        var node = _rng.Next(3) == 0 && Leader() is { Core: not null } leader && leader.PendingCrash == CrashPoint.None ? leader : up[_rng.Next(up.Count)];
        node.PendingCrash = (CrashPoint)_rng.Next(3);
        if (node.PendingCrash == CrashPoint.Now)
        {
            Crash(node, "now");
        }
    }

    private void Crash(Node node, string when)
    {
        Trace($"{node.Id} crashes {when}");
        _stats.Crashes++;
        node.Core = null;
        node.Incarnation++;
        node.PendingCrash = CrashPoint.None;
        node.RestartAtTick = Tick + 5 + _rng.Next(60);

        // What was written without an fsync may or may not have reached the disk.
        if (node.Disk.Unsynced is { } unsynced && _rng.Next(2) == 0)
        {
            node.Disk.HardState = unsynced;
        }

        node.Disk.Unsynced = null;
    }

    /// <summary>A member (re)starts from its disk: the hard state, the snapshot and the entries after it.</summary>
    private void Restart(Node node)
    {
        var disk = node.Disk;
        var options = new RaftCoreOptions
        {
            Id = node.Id,
            ElectionTick = _settings.ElectionTick,
            HeartbeatTick = _settings.HeartbeatTick,
            PreVote = _settings.PreVote,
            CheckQuorum = _settings.CheckQuorum,
            MaxSizePerMessage = _settings.MaxSizePerMessage,
            MaxInflightMessages = _settings.MaxInflightMessages,
            Random = new Random(_rng.Next()),
        };
        var core = new RaftCore(options, disk.HardState.Clone(), disk.Snapshot.Metadata.Clone(), [.. disk.Entries]);
        if (disk.Snapshot.Metadata.Index > 0)
        {
            core.SetSnapshot(disk.Snapshot, disk.Snapshot.Metadata.Index);
        }

        // The state machine starts from the snapshot, at the core's applied index (a founder's log starts with the
        // founding members, in effect already).
        node.Core = core;
        node.Kv = Deserialize(disk.Snapshot.Data);
        node.KvHash = Hash(node.Kv);
        node.Applied = core.Applied;
        node.LastSnapshotIndex = disk.Snapshot.Metadata.Index;
        node.RestartAtTick = long.MaxValue;
        Trace($"{node.Id} starts: term {disk.HardState.Term} vote {disk.HardState.Vote} commit {disk.HardState.Commit} snapshot {node.Applied} last {disk.LastIndex}");
        ProcessReadies(node);
    }

    private void Decommission(Node node)
    {
        Trace($"{node.Id} decommissioned");
        node.Core = null;
        node.Decommissioned = true;
        node.Incarnation++;
    }

    // ------------------------------------------------------------------------------------------------------------
    // Safety checks while running

    private void ObserveLeader(Node node)
    {
        if (node.Core is not { Role: RaftRole.Leader } core)
        {
            return;
        }

        if (_leaderOfTerm.TryGetValue(core.Term, out var leader))
        {
            if (leader != node.Id)
            {
                throw new SimulationFailure($"election safety: members {leader} and {node.Id} both lead term {core.Term}");
            }

            return;
        }

        _leaderOfTerm[core.Term] = node.Id;
        _stats.Elections++;
        Trace($"{node.Id} leads term {core.Term} (last {core.LastIndex}, commit {core.Committed}, voters {string.Join(",", core.Voters)})");
        CheckLeaderCompleteness(node);
    }

    /// <summary>Every entry applied anywhere so far must be in this leader's log (or in its compacted prefix).</summary>
    private void CheckLeaderCompleteness(Node leader)
    {
        var core = leader.Core!;
        var compacted = core.FirstIndex - 1;
        foreach (var (index, applied) in _appliedAt)
        {
            if (index >= compacted && core.TermAt(index) != applied.Term)
            {
                throw new SimulationFailure(
                    $"leader completeness: leader {leader.Id} of term {core.Term} has {(core.TermAt(index) is { } t ? $"term {t}" : "nothing")} at {index}, where member {applied.Member} applied {index}@{applied.Term}");
            }
        }
    }

    /// <summary>Log matching over every pair of logs on disk: logs that share an entry agree on everything before it.</summary>
    private void CheckLogMatching()
    {
        var logs = _nodes.Values.Select(n => (n.Id, Disk: n.Disk)).ToList();
        for (var a = 0; a < logs.Count; a++)
        {
            for (var b = a + 1; b < logs.Count; b++)
            {
                var (x, y) = (logs[a].Disk, logs[b].Disk);
                var low = Math.Max(x.Snapshot.Metadata.Index, y.Snapshot.Metadata.Index) + 1;
                var high = Math.Min(x.LastIndex, y.LastIndex);
                var shared = 0ul;
                for (var i = high; i >= low && shared == 0; i--)
                {
                    if (x.At(i).Term == y.At(i).Term)
                    {
                        shared = i;
                    }
                }

                for (var i = low; i <= shared; i++)
                {
                    if (!x.At(i).Equals(y.At(i)))
                    {
                        throw new SimulationFailure($"log matching: members {logs[a].Id} and {logs[b].Id} both hold {shared}@{x.At(shared).Term} but differ at {i}: {x.At(i).Term} vs {y.At(i).Term}");
                    }
                }
            }
        }
    }

    // ------------------------------------------------------------------------------------------------------------
    // Network

    private void Send(Node from, RaftMessage message)
    {
        _stats.MessagesSent++;
        if (!_nodes.TryGetValue(message.To, out var to) || to.Decommissioned)
        {
            return;
        }

        if (_blocked.Contains((from.Id, to.Id)))
        {
            Dropped(message, unreachable: true);
            return;
        }

        if (_rng.NextDouble() < DropRate)
        {
            Dropped(message, unreachable: false);
            return;
        }

        Enqueue(new Envelope(message, null));
        if (_faulty && _rng.NextDouble() < _settings.DuplicateRate)
        {
            Enqueue(new Envelope(message.Clone(), null));
        }
    }

    private void Enqueue(Envelope envelope)
    {
        var delay = 1 + _rng.Next(_settings.MaxDelay);
        if (_faulty && _rng.NextDouble() < _settings.LongDelayRate)
        {
            delay += _rng.Next(5 * TickUnits);
        }

        _inFlight.Enqueue(envelope, (_now + delay, _seq++));
    }

    /// <summary>
    /// A message was lost. The sender's transport notices when a snapshot stream fails, and sometimes when a peer is
    /// unreachable; it tells the core (a local input, delivered like a message so that it never interrupts a Ready).
    /// </summary>
    private void Dropped(RaftMessage message, bool unreachable)
    {
        if (message.Type == RaftMessageType.RaftMsgSnap)
        {
            _inFlight.Enqueue(new Envelope(null, new LocalReport(message.From, message.To, SnapshotFailed: true)), (_now + 1, _seq++));
        }
        else if (unreachable && _rng.Next(2) == 0)
        {
            _inFlight.Enqueue(new Envelope(null, new LocalReport(message.From, message.To, SnapshotFailed: null)), (_now + 1, _seq++));
        }
    }

    private void Deliver(Envelope envelope)
    {
        if (envelope.Report is { } report)
        {
            if (_nodes[report.Node].Core is not null)
            {
                Input(_nodes[report.Node], report.SnapshotFailed is { } failed ? $"snapshot to {report.Peer} {(failed ? "failed" : "done")}" : $"{report.Peer} unreachable", core =>
                {
                    if (report.SnapshotFailed is { } failed)
                    {
                        core.ReportSnapshot(report.Peer, failed);
                    }
                    else
                    {
                        core.ReportUnreachable(report.Peer);
                    }
                });
            }

            return;
        }

        var message = envelope.Message!;
        var to = _nodes[message.To];
        if (to.Core is null || _blocked.Contains((message.From, message.To)))
        {
            Dropped(message, unreachable: true);
            return;
        }

        Fingerprint((ulong)_now, message.From, message.To, (ulong)message.Type, message.Term, message.Index);
        AddTrace((_now, null, message));
        Input(to, null, core => core.Step(message));
        if (message.Type == RaftMessageType.RaftMsgSnap)
        {
            _inFlight.Enqueue(new Envelope(null, new LocalReport(message.From, message.To, SnapshotFailed: false)), (_now + 1, _seq++));
        }
    }

    private void Partition()
    {
        var up = _nodes.Values.Where(n => !n.Decommissioned).Select(n => n.Id).ToList();
        _blocked.Clear();
        _stats.Partitions++;
        switch (_rng.Next(4))
        {
            case 0:
                var isolated = Leader() is { } leader && _rng.Next(2) == 0 ? leader.Id : up[_rng.Next(up.Count)];
                foreach (var other in up.Where(o => o != isolated))
                {
                    _blocked.Add((isolated, other));
                    _blocked.Add((other, isolated));
                }

                Trace($"partition: {isolated} isolated");
                break;
            case 1:
                var side = up.Where(_ => _rng.Next(2) == 0).ToHashSet();
                foreach (var a in side)
                {
                    foreach (var b in up.Where(b => !side.Contains(b)))
                    {
                        _blocked.Add((a, b));
                        _blocked.Add((b, a));
                    }
                }

                Trace($"partition: [{string.Join(",", side)}] | rest");
                break;
            case 2:
                // The leader with a minority: it goes on appending entries it cannot commit, which its side stores.
                var minority = new HashSet<ulong>();
                if (Leader() is { } stale)
                {
                    minority.Add(stale.Id);
                }

                while (minority.Count < (up.Count - 1) / 2)
                {
                    minority.Add(up[_rng.Next(up.Count)]);
                }

                foreach (var a in minority)
                {
                    foreach (var b in up.Where(b => !minority.Contains(b)))
                    {
                        _blocked.Add((a, b));
                        _blocked.Add((b, a));
                    }
                }

                Trace($"partition: [{string.Join(",", minority)}] (with the leader) | rest");
                break;
            default:
                var from = up[_rng.Next(up.Count)];
                foreach (var other in up.Where(o => o != from && _rng.Next(2) == 0))
                {
                    _blocked.Add((from, other));
                }

                Trace($"partition: {from} cannot send to [{string.Join(",", _blocked.Select(b => b.To))}]");
                break;
        }

        _healAtTick = Tick + 10 + _rng.Next(100);
    }

    // ------------------------------------------------------------------------------------------------------------
    // Membership: remove a voter and replace it by a new member with an empty disk

    /// <summary>
    /// Replaces a voter by a new member (a new Raft ID, an empty disk). With more than three voters the old one is
    /// removed first; with three the new one is added first, so that the group keeps three voters.
    /// </summary>
    private void StartMembershipPlan()
    {
        if (Leader() is not { } leader)
        {
            return;
        }

        var voters = leader.Core!.Voters.ToList();
        var victim = voters[_rng.Next(voters.Count)];
        var newcomer = AddNode();
        newcomer.Disk.Snapshot = new RaftSnapshot { Metadata = new RaftSnapshotMetadata(), Data = ByteString.Empty };
        var remove = new RaftConfChange { Type = RaftConfChangeType.RaftConfChangeRemoveVoter, Member = new RaftMember { RaftId = victim }, Id = (ulong)++_nextChangeId };
        var add = new RaftConfChange { Type = RaftConfChangeType.RaftConfChangeAddVoter, Member = new RaftMember { RaftId = newcomer.Id, NodeId = $"node{newcomer.Id}" }, Id = (ulong)++_nextChangeId };
        _plan = new MembershipPlan(voters.Count > 3 ? [remove, add] : [add, remove], newcomer);
        Trace($"membership: replace {victim} by {newcomer.Id}");
    }

    private void RunMembershipPlan()
    {
        if (_plan is not { } plan)
        {
            return;
        }

        var change = plan.Steps[plan.Current];
        if (change.Type == RaftConfChangeType.RaftConfChangeAddVoter && plan.Newcomer.Core is null && !plan.Newcomer.Decommissioned && plan.Newcomer.Incarnation == 0)
        {
            Restart(plan.Newcomer);
        }

        if (plan.ProposedAtTick is { } at && Tick - at < 3 * _settings.ElectionTick)
        {
            return;
        }

        if (Leader() is not { } leader)
        {
            return;
        }

        try
        {
            Input(leader, $"propose {change.Type} {change.Member.RaftId}", core => core.ProposeConfChange(change));
            plan.ProposedAtTick = Tick;
        }
        catch (NotLeaderException)
        {
            // Leadership moved meanwhile: try again next tick.
        }
        catch (InvalidOperationException) when (leader.Core is { } core && (core.LeadTransferee != 0 || HasPendingChange(core)))
        {
            // Not now (another change is not applied yet, or a transfer is under way): try again next tick.
        }
    }

    /// <summary>Whether the leader's log holds a membership change it has not applied (it then refuses another).</summary>
    private bool HasPendingChange(RaftCore leader)
    {
        var node = _nodes[leader.Id];
        var start = Math.Max(leader.Applied + 1, node.Disk.Snapshot.Metadata.Index + 1);
        for (var i = start; i <= node.Disk.LastIndex; i++)
        {
            if (node.Disk.At(i).Type == RaftEntryType.RaftEntryConfChange)
            {
                return true;
            }
        }

        // A new leader also waits until it applied everything that was in its log when it was elected.
        return leader.Applied < leader.LastIndex;
    }

    private void OnConfChangeApplied(RaftConfChange change)
    {
        if (_plan is not { } plan || plan.Steps[plan.Current].Id != change.Id)
        {
            return;
        }

        _stats.MembershipChanges++;
        if (change.Type == RaftConfChangeType.RaftConfChangeRemoveVoter && _nodes.TryGetValue(change.Member.RaftId, out var victim))
        {
            // The removed member runs on a little (it may not even know yet), then is shut down for good.
            victim.DecommissionAtTick = Tick + _rng.Next(50);
        }

        plan.Current++;
        plan.ProposedAtTick = null;
        if (plan.Current == plan.Steps.Count)
        {
            _plan = null;
        }
    }

    // ------------------------------------------------------------------------------------------------------------
    // Clients

    private void RunClient(Client client)
    {
        if (client.Op is { } op)
        {
            if (Tick - op.StartedAtTick > ClientTimeoutTicks)
            {
                // Give up: a write stays in the history without a response (it may or may not happen).
                Trace($"client {client.Id} gives up on {_history[op.HistoryIndex]}");
                client.Op = null;
                client.NextAt = _now + _rng.Next(3 * TickUnits);
                client.Target = RandomMember();
            }

            return;
        }

        if (_now < client.NextAt)
        {
            return;
        }

        if (!_nodes.TryGetValue(client.Target, out var node) || node.Core is null)
        {
            client.Target = RandomMember();
            return;
        }

        var key = PickKey();
        var core = node.Core;
        try
        {
            if (_rng.Next(5) < 3)
            {
                var value = $"{client.Id}.{++client.Sequence}";
                Trace($"{node.Id} client {client.Id} writes {key}={value}");
                var (index, term) = core.Propose(Encode(key, value));
                client.Op = new ClientOp(true, node.Id, node.Incarnation, Tick, Record(new KvOperation(client.Id, key, true, value, ++_clock, null))) { Index = index, Term = term };
            }
            else if (_settings.UnsafeLocalReads)
            {
                // Wrong on purpose: whatever some member has applied, without asking a quorum.
                var up = _nodes.Values.Where(n => n.Core is not null).ToList();
                var invoked = ++_clock;
                Record(new KvOperation(client.Id, key, false, up[_rng.Next(up.Count)].Kv.GetValueOrDefault(key), invoked, ++_clock));
                _stats.ReadsAnswered++;
                client.NextAt = _now + 1;
                return;
            }
            else
            {
                // A read may also go to a follower, which asks the leader for the read index.
                if (_rng.Next(4) == 0 && _nodes[RandomMember()] is { Core: { } other } follower)
                {
                    (node, core) = (follower, other);
                }

                var context = ByteString.CopyFromUtf8($"read {client.Id}.{++client.Sequence}");
                Trace($"{node.Id} client {client.Id} reads {key}");
                core.ReadIndex(context);
                client.Op = new ClientOp(false, node.Id, node.Incarnation, Tick, Record(new KvOperation(client.Id, key, false, null, ++_clock, null))) { Context = context };
            }
        }
        catch (NotLeaderException e)
        {
            // It never reached a log: retry, as a new request, where the member says the leader is.
            client.Target = e.LeaderId != 0 ? e.LeaderId : RandomMember();
            client.NextAt = _now + 1;
            return;
        }
        catch (InvalidOperationException) when (core.LeadTransferee != 0)
        {
            client.NextAt = _now + TickUnits;
            return;
        }

        ObserveLeader(node);
        ProcessReadies(node);
    }

    private void OnEntryApplied(Node node, RaftEntry entry)
    {
        foreach (var client in _clients)
        {
            if (client.Op is { IsWrite: true } op && op.Node == node.Id && op.Incarnation == node.Incarnation && op.Index == entry.Index)
            {
                var acknowledged = op.Term == entry.Term;
                Respond(client, _history[op.HistoryIndex] with { Returned = acknowledged ? ++_clock : null, Lost = !acknowledged });
                if (acknowledged)
                {
                    _stats.WritesAcknowledged++;
                }
                else
                {
                    _stats.WritesLost++;
                }
            }
        }
    }

    private void ServeReads(Node node)
    {
        foreach (var client in _clients)
        {
            if (client.Op is { IsWrite: false, ReadIndex: { } index } op && op.Node == node.Id && op.Incarnation == node.Incarnation && node.Applied >= index)
            {
                var record = _history[op.HistoryIndex];
                Respond(client, record with { Value = node.Kv.GetValueOrDefault(record.Key), Returned = ++_clock });
                _stats.ReadsAnswered++;
            }
        }
    }

    private void Respond(Client client, KvOperation done)
    {
        Trace($"client {client.Id}: {done}");
        _history[client.Op!.HistoryIndex] = done;
        client.Op = null;
        client.NextAt = _now + _rng.Next(3 * TickUnits);
    }

    /// <summary>Adds an invocation to the history; returns its position.</summary>
    private int Record(KvOperation op)
    {
        _history.Add(op);
        _keyUse[op.Key]++;
        return _history.Count - 1;
    }

    private string PickKey()
    {
        var slot = _rng.Next(_activeKeys.Count);
        if (_keyUse[_activeKeys[slot]] >= _settings.OperationsPerKey)
        {
            _activeKeys[slot] = NewKey();
        }

        return _activeKeys[slot];
    }

    private string NewKey()
    {
        var key = $"k{++_nextKey}";
        _keyUse[key] = 0;
        return key;
    }

    private ulong RandomMember()
    {
        var up = _nodes.Values.Where(n => n.Core is not null).Select(n => n.Id).ToList();
        return up.Count == 0 ? 1 : up[_rng.Next(up.Count)];
    }

    /// <summary>The member that leads the highest term among those that think they lead.</summary>
    private Node? Leader() => _nodes.Values.Where(n => n.Core is { Role: RaftRole.Leader }).MaxBy(n => n.Core!.Term);

    // ------------------------------------------------------------------------------------------------------------
    // The application: a key-value register map

    private static ByteString Encode(string key, string value) => ByteString.CopyFromUtf8($"{key}\n{value}");

    private static (string Key, string Value) Decode(ByteString data)
    {
        var text = data.ToStringUtf8();
        var split = text.IndexOf('\n', StringComparison.Ordinal);
        return (text[..split], text[(split + 1)..]);
    }

    private static ByteString Serialize(Dictionary<string, string> kv)
    {
        var text = new StringBuilder();
        foreach (var (key, value) in kv.OrderBy(p => p.Key, StringComparer.Ordinal))
        {
            text.Append(key).Append('=').Append(value).Append('\n');
        }

        return ByteString.CopyFromUtf8(text.ToString());
    }

    private static Dictionary<string, string> Deserialize(ByteString data)
    {
        var kv = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var line in data.ToStringUtf8().Split('\n', StringSplitOptions.RemoveEmptyEntries))
        {
            var split = line.IndexOf('=', StringComparison.Ordinal);
            kv[line[..split]] = line[(split + 1)..];
        }

        return kv;
    }

    /// <summary>
    /// The map and the voters. Within the founders' entries at the start of the log the voters legitimately differ:
    /// founders have them all from their metadata, a joiner replaying the log adds them one by one.
    /// </summary>
    private ulong StateHash(Node node) =>
        node.Applied <= (ulong)_settings.Members ? node.KvHash : node.KvHash ^ node.Core!.Voters.Aggregate(0x9E3779B97F4A7C15ul, (h, id) => (h ^ id) * 1099511628211);

    /// <summary>The map's hash: the XOR of its pairs' hashes, so that a write updates it in constant time.</summary>
    private static ulong Hash(Dictionary<string, string> kv) => kv.Aggregate(0ul, (h, p) => h ^ PairHash(p.Key, p.Value));

    private static ulong PairHash(string key, string value) => Fnv($"{key}\0{value}", 14695981039346656037);

    private static ulong Fnv(string text, ulong hash)
    {
        foreach (var c in text)
        {
            hash = (hash ^ c) * 1099511628211;
        }

        return hash;
    }

    private static string Show(ByteString data) =>
        data.IsEmpty ? "no-op" : data.ToStringUtf8().Replace('\n', '=');

    // ------------------------------------------------------------------------------------------------------------
    // Tracing (the last events are printed with a failure) and the run's fingerprint (to prove replays identical)

    private void Trace(string what) => AddTrace((_now, what, null));

    /// <summary>Keeps the last events; a delivered message is kept as is and formatted only if a failure prints it.</summary>
    private void AddTrace((long Now, string? Text, RaftMessage? Delivered) what)
    {
        if (_trace.Count == _settings.TraceLength)
        {
            _trace.Dequeue();
        }

        _trace.Enqueue(what);
    }

    private static string Format((long Now, string? Text, RaftMessage? Delivered) t)
    {
        var text = t.Delivered is not { } m
            ? t.Text
            : $"{m.To} < {m.From} {m.Type} term {m.Term} index {m.Index} logterm {m.LogTerm} commit {m.Commit} entries {m.Entries.Count}{(m.Reject ? " reject" : string.Empty)}";
        return $"[{t.Now / TickUnits}.{t.Now % TickUnits}] {text}";
    }

    private void Fingerprint(params ReadOnlySpan<ulong> values)
    {
        foreach (var value in values)
        {
            _fingerprint = (_fingerprint ^ value) * 1099511628211;
        }
    }

    // ------------------------------------------------------------------------------------------------------------
    // Types

    private enum CrashPoint
    {
        None,
        Now,
        BeforePersist,
        AfterPersist,
    }

    /// <summary>What survives a crash: the hard state, the snapshot (compaction point and membership) and the entries after it.</summary>
    private sealed class Disk
    {
        public RaftHardState HardState { get; set; } = new();

        /// <summary>A hard state written without an fsync (only the commit index changed): a crash may lose it.</summary>
        public RaftHardState? Unsynced { get; set; }

        public RaftSnapshot Snapshot { get; set; } = new() { Metadata = new RaftSnapshotMetadata() };

        public List<RaftEntry> Entries { get; } = [];

        public ulong LastIndex => Snapshot.Metadata.Index + (ulong)Entries.Count;

        public RaftEntry At(ulong index) => Entries[(int)(index - Snapshot.Metadata.Index - 1)];
    }

    private sealed class Node(ulong id, int phase, int period)
    {
        public ulong Id { get; } = id;

        /// <summary>When this member's clock strikes: every <see cref="Period"/> units, offset by this.</summary>
        public int Phase { get; } = phase;

        public int Period { get; } = period;

        public RaftCore? Core { get; set; }

        public int Incarnation { get; set; }

        public Disk Disk { get; } = new();

        public Dictionary<string, string> Kv { get; set; } = new(StringComparer.Ordinal);

        public ulong KvHash { get; set; }

        public ulong Applied { get; set; }

        public ulong LastSnapshotIndex { get; set; }

        public CrashPoint PendingCrash { get; set; }

        public long RestartAtTick { get; set; } = long.MaxValue;

        public long DecommissionAtTick { get; set; } = long.MaxValue;

        public bool Decommissioned { get; set; }
    }

    private sealed class Client(int id)
    {
        public int Id { get; } = id;

        public ulong Target { get; set; }

        public int Sequence { get; set; }

        public long NextAt { get; set; }

        public ClientOp? Op { get; set; }
    }

    private sealed record ClientOp(bool IsWrite, ulong Node, int Incarnation, long StartedAtTick, int HistoryIndex)
    {
        public ulong Index { get; init; }

        public ulong Term { get; init; }

        public ByteString Context { get; init; } = ByteString.Empty;

        public ulong? ReadIndex { get; set; }
    }

    private sealed class MembershipPlan(List<RaftConfChange> steps, Node newcomer)
    {
        public List<RaftConfChange> Steps { get; } = steps;

        public Node Newcomer { get; } = newcomer;

        public int Current { get; set; }

        public long? ProposedAtTick { get; set; }
    }

    private sealed record AppliedEntry(ulong Term, ByteString Data, ulong Member);

    private sealed record LocalReport(ulong Node, ulong Peer, bool? SnapshotFailed);

    private sealed record Envelope(RaftMessage? Message, LocalReport? Report);

    private sealed class SimulationFailure(string message) : Exception(message);
}
