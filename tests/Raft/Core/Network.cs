using Google.Protobuf;
using Shoal.Api;
using Shoal.Raft.Core;

namespace Shoal.Raft.Tests.Core;

/// <summary>
/// A deterministic in-memory group of cores for tests: the test decides when time passes and which messages are
/// delivered. Each member's Ready is processed as a driver would (persist = keep, send = queue, apply = record).
/// </summary>
internal sealed class Network
{
    private readonly Dictionary<ulong, Member> _members = [];
    private readonly List<RaftMessage> _inFlight = [];
    private readonly HashSet<(ulong From, ulong To)> _cut = [];
    private readonly HashSet<ulong> _isolated = [];
    private readonly List<Func<RaftMessage, bool>> _drops = [];

    public Network(int size, int seed = 1, Func<ulong, RaftCoreOptions, RaftCoreOptions>? configure = null)
    {
        var members = Enumerable.Range(1, size).Select(i => new RaftMember { RaftId = (ulong)i, NodeId = $"node{i}", Addr = $"n{i}:4242" }).ToList();
        var metadata = new RaftSnapshotMetadata();
        metadata.Members.AddRange(members);
        foreach (var member in members)
        {
            var config = new RaftCoreOptions { Id = member.RaftId, Random = new Random(seed * 1000 + (int)member.RaftId) };
            config = configure?.Invoke(member.RaftId, config) ?? config;
            _members[member.RaftId] = new Member(new RaftCore(config, snapshot: metadata));
        }
    }

    /// <summary>A group of cores built by the test, restarted from the logs given with them.</summary>
    public Network(IEnumerable<(RaftCore Core, IEnumerable<RaftEntry> Log)> members)
    {
        foreach (var (core, log) in members)
        {
            var member = new Member(core);
            foreach (var entry in log)
            {
                member.Persisted[entry.Index] = entry;
            }

            _members[core.Id] = member;
        }
    }

    public IReadOnlyDictionary<ulong, Member> Members => _members;

    /// <summary>Called after every message a member steps (to observe states between deliveries).</summary>
    public Action<RaftCore>? AfterStep { get; set; }

    public RaftCore this[ulong id] => _members[id].Core;

    public ulong? Leader => _members.Values.Where(m => m.Core.Role == RaftRole.Leader).Select(m => (ulong?)m.Core.Id).MaxBy(id => _members[id!.Value].Core.Term);

    public void Isolate(ulong id) => _isolated.Add(id);

    public void Heal()
    {
        _isolated.Clear();
        _cut.Clear();
        _drops.Clear();
    }

    /// <summary>Drops every message that matches, until <see cref="Heal"/> or until the result is disposed.</summary>
    public IDisposable DropWhere(Func<RaftMessage, bool> predicate)
    {
        _drops.Add(predicate);
        return new Undo(() => _drops.Remove(predicate));
    }

    public void Cut(ulong a, ulong b)
    {
        _cut.Add((a, b));
        _cut.Add((b, a));
    }

    /// <summary>Processes every member's Ready and delivers messages until nothing moves.</summary>
    public void Stabilize(int maxRounds = 10_000)
    {
        for (var round = 0; round < maxRounds; round++)
        {
            var moved = ProcessReadies();
            if (_inFlight.Count == 0 && !moved)
            {
                return;
            }

            var batch = _inFlight.ToList();
            _inFlight.Clear();
            foreach (var message in batch)
            {
                Deliver(message);
            }
        }

        throw new InvalidOperationException("the network did not stabilize");
    }

    public void Tick(ulong id, int times = 1)
    {
        for (var i = 0; i < times; i++)
        {
            _members[id].Core.Tick();
        }
    }

    public void TickAll(int times = 1)
    {
        for (var i = 0; i < times; i++)
        {
            foreach (var member in _members.Values)
            {
                member.Core.Tick();
            }

            Stabilize();
        }
    }

    public ulong Elect(ulong id)
    {
        _members[id].Core.Campaign();
        Stabilize();
        return id;
    }

    public (ulong Index, ulong Term) Propose(ulong id, string data)
    {
        var result = _members[id].Core.Propose(ByteString.CopyFromUtf8(data));
        Stabilize();
        return result;
    }

    private bool ProcessReadies()
    {
        var moved = false;
        foreach (var member in _members.Values)
        {
            while (member.Core.HasReady)
            {
                moved = true;
                var ready = member.Core.GetReady();
                member.Persist(ready);
                _inFlight.AddRange(ready.Messages);
                member.Apply(ready);
                member.Core.Advance(ready);
            }
        }

        return moved;
    }

    private void Deliver(RaftMessage message)
    {
        if (_isolated.Contains(message.From) || _isolated.Contains(message.To) || _cut.Contains((message.From, message.To)) || _drops.Exists(drop => drop(message)))
        {
            return;
        }

        if (_members.TryGetValue(message.To, out var target))
        {
            target.Core.Step(message.Clone());
            AfterStep?.Invoke(target.Core);
        }
    }

    private sealed class Undo(Action undo) : IDisposable
    {
        public void Dispose() => undo();
    }

    internal sealed class Member(RaftCore core)
    {
        public RaftCore Core { get; } = core;

        /// <summary>What was persisted, by index (overwrites replace).</summary>
        public SortedDictionary<ulong, RaftEntry> Persisted { get; } = [];

        public List<RaftEntry> Applied { get; } = [];

        public List<ReadState> Reads { get; } = [];

        /// <summary>Snapshots received from the leader and applied.</summary>
        public List<RaftSnapshot> Snapshots { get; } = [];

        public IEnumerable<string> AppliedData => Applied.Where(e => e.Type == RaftEntryType.RaftEntryNormal && !e.Data.IsEmpty).Select(e => e.Data.ToStringUtf8());

        public void Persist(Ready ready)
        {
            if (ready.Snapshot is not null)
            {
                Persisted.Clear();
            }

            foreach (var entry in ready.Entries)
            {
                foreach (var stale in Persisted.Keys.Where(k => k >= entry.Index).ToList())
                {
                    Persisted.Remove(stale);
                }

                Persisted[entry.Index] = entry;
            }
        }

        public void Apply(Ready ready)
        {
            if (ready.Snapshot is { } snapshot)
            {
                Snapshots.Add(snapshot);
            }

            foreach (var entry in ready.CommittedEntries)
            {
                Applied.Add(entry);
                if (entry.Type == RaftEntryType.RaftEntryConfChange)
                {
                    Core.ApplyConfChange(RaftConfChange.Parser.ParseFrom(entry.Data));
                }
            }

            Reads.AddRange(ready.ReadStates);
        }
    }
}
