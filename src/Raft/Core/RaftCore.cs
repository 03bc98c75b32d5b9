using Google.Protobuf;
using Shoal.Api;

namespace Shoal.Raft.Core;

/// <summary>
/// One member's Raft, as a pure state machine in the manner of etcd's raft: no I/O, no clock, no threads. Inputs are
/// <see cref="Step"/> (a message from a peer), <see cref="Tick"/> (logical time), and the local requests
/// (<see cref="Propose"/>, <see cref="ProposeConfChange"/>, <see cref="ReadIndex"/>, <see cref="TransferLeadership"/>,
/// <see cref="Campaign"/>). Output is a <see cref="Ready"/>, which the driver persists, sends and applies before
/// calling <see cref="Advance"/>. Not thread-safe: one driver loop owns it.
/// </summary>
/// <remarks>
/// Election with pre-vote and check-quorum; log replication with a per-follower inflight window and fast back-off;
/// commit by quorum of the current term only; snapshots for followers behind the compaction point; single-server
/// membership changes, one pending at a time; leadership transfer (TimeoutNow); ReadIndex for linearizable reads.
/// </remarks>
public sealed partial class RaftCore
{
    private static readonly ByteString TransferContext = ByteString.CopyFromUtf8("transfer");

    private readonly RaftCoreOptions _config;
    private readonly RaftLog _log;
    private readonly SortedSet<ulong> _voters = [];
    private readonly Dictionary<ulong, Progress> _progress = [];
    private readonly Dictionary<ulong, bool> _votes = [];
    private readonly ReadIndexTracker _reads = new();
    private readonly List<RaftMessage> _pendingReadIndex = [];
    private readonly List<RaftMessage> _messages = [];
    private readonly List<ReadState> _readStates = [];

    private RaftHardState _persistedHardState;
    private SoftState _lastSoftState;
    private int _electionElapsed;
    private int _heartbeatElapsed;
    private int _randomizedElectionTimeout;
    private ulong _pendingConfIndex;
    private RaftSnapshot? _snapshot;

    /// <summary>
    /// Creates the core from what the member persisted: its hard state, the last snapshot's metadata (compaction
    /// point and membership) and the entries after it. The founding members of a new group have only the membership
    /// (metadata at index 0); a member that joins an existing group has all of them empty.
    /// </summary>
    public RaftCore(RaftCoreOptions config, RaftHardState? hardState = null, RaftSnapshotMetadata? snapshot = null, IReadOnlyList<RaftEntry>? entries = null)
    {
        config.Validate();
        _config = config;
        hardState ??= new RaftHardState();
        _log = new RaftLog(snapshot?.Index ?? 0, snapshot?.Term ?? 0, entries ?? [], hardState.Commit);
        foreach (var member in snapshot?.Members ?? [])
        {
            _voters.Add(member.RaftId);
        }

        if (snapshot is { Index: 0, Members.Count: > 0 } && _log.LastIndex == 0 && hardState is { Term: 0, Vote: 0, Commit: 0 })
        {
            // A founding member of a new group: its log starts with the founding members, one AddVoter entry each.
            // They are otherwise only in the founders' metadata, and a member that joins later and replicates the
            // log from its start must learn them from the log. Every founder writes the same entries (term 0, by
            // Raft ID), so the logs match, and they are committed; they are in effect already (the voters come from
            // the metadata), so they count as applied. The driver persists them with the first Ready.
            _log.Append([.. snapshot.Members.OrderBy(m => m.RaftId).Select((member, i) => new RaftEntry
            {
                Term = 0,
                Index = (ulong)i + 1,
                Type = RaftEntryType.RaftEntryConfChange,
                Data = new RaftConfChange { Type = RaftConfChangeType.RaftConfChangeAddVoter, Member = member }.ToByteString(),
            })]);
            _log.CommitTo(_log.LastIndex);
            _log.AppliedTo(_log.LastIndex);
        }

        Term = hardState.Term;
        Vote = hardState.Vote;
        _persistedHardState = hardState.Clone();
        BecomeFollower(Term, 0);
        _lastSoftState = SoftState;
    }

    /// <summary>This member's Raft ID.</summary>
    public ulong Id => _config.Id;

    /// <summary>The current term.</summary>
    public ulong Term { get; private set; }

    /// <summary>Who this member voted for in <see cref="Term"/> (0 = nobody).</summary>
    public ulong Vote { get; private set; }

    /// <summary>The leader this member knows of in <see cref="Term"/> (0 = none).</summary>
    public ulong Lead { get; private set; }

    /// <summary>This member's role.</summary>
    public RaftRole Role { get; private set; }

    /// <summary>The member a leadership transfer is under way to (0 = none).</summary>
    public ulong LeadTransferee { get; private set; }

    /// <summary>The highest committed index.</summary>
    public ulong Committed => _log.Committed;

    /// <summary>The highest applied index (as reported through <see cref="Advance"/>).</summary>
    public ulong Applied => _log.Applied;

    /// <summary>The last index in the log.</summary>
    public ulong LastIndex => _log.LastIndex;

    /// <summary>The first index still in the log (entries before it are compacted into a snapshot).</summary>
    public ulong FirstIndex => _log.FirstIndex;

    /// <summary>The voting members.</summary>
    public IReadOnlySet<ulong> Voters => _voters;

    /// <summary>The leader's view of each member's replication (empty on other roles).</summary>
    public IReadOnlyDictionary<ulong, Progress> Progress => _progress;

    /// <summary>Leader and role now.</summary>
    public SoftState SoftState => new(Lead, Role);

    /// <summary>The hard state now.</summary>
    public RaftHardState HardState => new() { Term = Term, Vote = Vote, Commit = _log.Committed };

    private int Quorum => (_voters.Count / 2) + 1;

    private bool Promotable => _voters.Contains(Id) && _log.PendingSnapshot is null;

    /// <summary>The term of the entry at <paramref name="index"/>, or null when it is not in the log.</summary>
    public ulong? TermAt(ulong index) => _log.Term(index);

    // ------------------------------------------------------------------------------------------------------------
    // Local requests

    /// <summary>
    /// Appends <paramref name="data"/> as a new entry and returns its index and term: it is committed once an entry
    /// at that index with that term is applied (another term there means it was lost to a new leader).
    /// </summary>
    /// <exception cref="NotLeaderException">This member is not the leader (the exception names the leader).</exception>
    /// <exception cref="InvalidOperationException">A leadership transfer is under way.</exception>
    public (ulong Index, ulong Term) Propose(ByteString data) => AppendProposal(RaftEntryType.RaftEntryNormal, data);

    /// <summary>
    /// Proposes a membership change (one member added, removed or updated). Only one may be pending: it takes effect
    /// when the driver applies it and calls <see cref="ApplyConfChange"/>.
    /// </summary>
    /// <exception cref="NotLeaderException">This member is not the leader.</exception>
    /// <exception cref="InvalidOperationException">Another change is not yet applied, or a transfer is under way.</exception>
    public (ulong Index, ulong Term) ProposeConfChange(RaftConfChange change)
    {
        if (Role == RaftRole.Leader && _pendingConfIndex > _log.Applied)
        {
            throw new InvalidOperationException($"a membership change is already in progress (entry {_pendingConfIndex}, applied {_log.Applied}); retry when it is done");
        }

        var result = AppendProposal(RaftEntryType.RaftEntryConfChange, change.ToByteString());
        _pendingConfIndex = result.Index;
        return result;
    }

    /// <summary>
    /// Asks for a linearizable read: a <see cref="ReadState"/> with <paramref name="context"/> appears in a later
    /// <see cref="Ready"/> once a quorum confirmed this leadership; the read may be served when that index is applied.
    /// On a follower the request goes to the leader.
    /// </summary>
    /// <exception cref="NotLeaderException">No leader is known.</exception>
    public void ReadIndex(ByteString context)
    {
        var request = new RaftMessage { Type = RaftMessageType.RaftMsgReadIndex, From = Id, Context = context };
        if (Role != RaftRole.Leader && Lead == 0)
        {
            throw new NotLeaderException(0);
        }

        Step(request);
    }

    /// <summary>Asks the leader to hand leadership to <paramref name="transferee"/>.</summary>
    /// <exception cref="NotLeaderException">This member is not the leader.</exception>
    public void TransferLeadership(ulong transferee)
    {
        if (Role != RaftRole.Leader)
        {
            throw new NotLeaderException(Lead);
        }

        Step(new RaftMessage { Type = RaftMessageType.RaftMsgTransferLeader, From = transferee });
    }

    /// <summary>Starts an election now (a single-member group elects itself at once).</summary>
    public void Campaign() => Step(new RaftMessage { Type = RaftMessageType.RaftMsgHup, From = Id });

    /// <summary>Reports that <paramref name="peer"/> could not be reached: the leader stops streaming to it.</summary>
    public void ReportUnreachable(ulong peer) => Step(new RaftMessage { Type = RaftMessageType.RaftMsgUnreachable, From = peer });

    /// <summary>Reports how sending a snapshot to <paramref name="peer"/> ended.</summary>
    public void ReportSnapshot(ulong peer, bool failed) => Step(new RaftMessage { Type = RaftMessageType.RaftMsgSnapStatus, From = peer, Reject = failed });

    /// <summary>
    /// Applies a committed membership change (the driver calls this when it applies the entry). Returns the voters.
    /// </summary>
    public IReadOnlySet<ulong> ApplyConfChange(RaftConfChange change)
    {
        var id = change.Member.RaftId;
        switch (change.Type)
        {
            case RaftConfChangeType.RaftConfChangeAddVoter:
                if (_voters.Add(id) && Role == RaftRole.Leader)
                {
                    // A new member starts probing from the end of our log.
                    _progress[id] = new Progress(_log.LastIndex + 1, _config.MaxInflightMessages) { RecentActive = true };
                }

                break;
            case RaftConfChangeType.RaftConfChangeRemoveVoter:
                _voters.Remove(id);
                _progress.Remove(id);
                if (id == Id && Role == RaftRole.Leader)
                {
                    // Removed while leading: step down; the others elect among themselves.
                    BecomeFollower(Term, 0);
                }
                else if (Role == RaftRole.Leader)
                {
                    if (LeadTransferee == id)
                    {
                        LeadTransferee = 0;
                    }

                    // The quorum shrank: entries may now be committed.
                    if (MaybeCommit())
                    {
                        BroadcastAppend();
                    }
                }

                break;
            default:
                break;
        }

        return _voters;
    }

    // ------------------------------------------------------------------------------------------------------------
    // Snapshots and compaction (driver side)

    /// <summary>
    /// The driver took a snapshot of the applied state: it is what lagging followers receive, and the log may be
    /// compacted up to <paramref name="compactTo"/> (at most the snapshot's index; entries after it stay for
    /// followers that are only a little behind).
    /// </summary>
    public void SetSnapshot(RaftSnapshot snapshot, ulong compactTo)
    {
        if (snapshot.Metadata.Index > _log.Applied)
        {
            throw new InvalidOperationException($"a snapshot at {snapshot.Metadata.Index} is ahead of the applied index {_log.Applied}");
        }

        _snapshot = snapshot;
        _log.Compact(Math.Min(compactTo, snapshot.Metadata.Index));
    }

    // ------------------------------------------------------------------------------------------------------------
    // Ready / Advance

    /// <summary>Whether there is anything for the driver to do.</summary>
    public bool HasReady =>
        !SoftState.Equals(_lastSoftState)
        || HardStateChanged()
        || _log.PendingSnapshot is not null
        || _log.Stable < _log.LastIndex
        || _messages.Count > 0
        || _readStates.Count > 0
        || _log.HasNextCommittedEntries;

    /// <summary>What the driver must do now; call <see cref="Advance"/> with it when done.</summary>
    public Ready GetReady()
    {
        var hardState = HardState;
        var entries = _log.UnstableEntries();
        var ready = new Ready
        {
            SoftState = SoftState.Equals(_lastSoftState) ? null : SoftState,
            HardState = HardStateChanged() ? hardState : null,
            Entries = entries,
            Snapshot = _log.PendingSnapshot,
            CommittedEntries = _log.NextCommittedEntries(_config.MaxCommittedSizePerReady),
            Messages = [.. _messages],
            ReadStates = [.. _readStates],
            MustSync = entries.Count > 0 || hardState.Term != _persistedHardState.Term || hardState.Vote != _persistedHardState.Vote || _log.PendingSnapshot is not null,
        };
        _messages.Clear();
        _readStates.Clear();
        return ready;
    }

    /// <summary>The driver persisted, sent and applied <paramref name="ready"/>.</summary>
    public void Advance(Ready ready)
    {
        if (ready.SoftState is { } soft)
        {
            _lastSoftState = soft;
        }

        if (ready.HardState is { } hard)
        {
            _persistedHardState = hard;
        }

        if (ready.Snapshot is { } snapshot)
        {
            _log.SnapshotApplied(snapshot.Metadata.Index);
            _snapshot = snapshot;
        }

        if (ready.Entries.Count > 0)
        {
            var last = ready.Entries[^1];
            _log.StableTo(last.Index, last.Term);
            if (Role == RaftRole.Leader && _progress.TryGetValue(Id, out var self) && self.MaybeUpdate(_log.Stable) && MaybeCommit())
            {
                BroadcastAppend();
                ReleaseReadsAfterFirstCommit();
            }
        }

        if (ready.CommittedEntries.Count > 0)
        {
            _log.AppliedTo(ready.CommittedEntries[^1].Index);
        }
    }

    private bool HardStateChanged() =>
        Term != _persistedHardState.Term || Vote != _persistedHardState.Vote || _log.Committed != _persistedHardState.Commit;

    // ------------------------------------------------------------------------------------------------------------
    // Time

    /// <summary>One tick of logical time.</summary>
    public void Tick()
    {
        if (Role == RaftRole.Leader)
        {
            TickLeader();
        }
        else
        {
            TickElection();
        }
    }

    private void TickElection()
    {
        _electionElapsed++;
        if (Promotable && _electionElapsed >= _randomizedElectionTimeout)
        {
            _electionElapsed = 0;
            Step(new RaftMessage { Type = RaftMessageType.RaftMsgHup, From = Id });
        }
    }

    private void TickLeader()
    {
        _heartbeatElapsed++;
        _electionElapsed++;
        if (_electionElapsed >= _config.ElectionTick)
        {
            _electionElapsed = 0;
            if (_config.CheckQuorum)
            {
                Step(new RaftMessage { Type = RaftMessageType.RaftMsgCheckQuorum, From = Id });
            }

            // A transfer that did not finish within an election timeout is abandoned.
            if (Role == RaftRole.Leader && LeadTransferee != 0)
            {
                LeadTransferee = 0;
            }
        }

        if (Role != RaftRole.Leader)
        {
            return;
        }

        if (_heartbeatElapsed >= _config.HeartbeatTick)
        {
            _heartbeatElapsed = 0;
            Step(new RaftMessage { Type = RaftMessageType.RaftMsgBeat, From = Id });
        }
    }

    // ------------------------------------------------------------------------------------------------------------
    // Role changes

    private void Reset(ulong term)
    {
        if (Term != term)
        {
            Term = term;
            Vote = 0;
        }

        Lead = 0;
        _electionElapsed = 0;
        _heartbeatElapsed = 0;
        _randomizedElectionTimeout = _config.ElectionTick + _config.Random.Next(_config.ElectionTick);
        LeadTransferee = 0;
        _votes.Clear();
        _progress.Clear();
        _reads.Clear();
        _pendingReadIndex.Clear();
        _pendingConfIndex = 0;
    }

    private void BecomeFollower(ulong term, ulong lead)
    {
        Reset(term);
        Lead = lead;
        Role = RaftRole.Follower;
    }

    private void BecomePreCandidate()
    {
        // The term and vote stay: a pre-vote changes nothing durable.
        _votes.Clear();
        _progress.Clear();
        Lead = 0;
        Role = RaftRole.PreCandidate;
    }

    private void BecomeCandidate()
    {
        Reset(Term + 1);
        Vote = Id;
        Role = RaftRole.Candidate;
    }

    private void BecomeLeader()
    {
        Reset(Term);
        Lead = Id;
        Role = RaftRole.Leader;
        foreach (var voter in _voters)
        {
            _progress[voter] = new Progress(_log.LastIndex + 1, _config.MaxInflightMessages) { RecentActive = true };
        }

        // Our own progress counts what is persisted; it is updated as the driver persists.
        var self = _progress[Id];
        self.BecomeReplicate();
        self.Match = _log.Stable;

        // Any conf change in the uncommitted tail may still be pending.
        _pendingConfIndex = _log.LastIndex;

        // An empty entry of the new term commits the previous terms' entries (§5.4.2).
        _log.Append([new RaftEntry { Term = Term, Index = _log.LastIndex + 1, Type = RaftEntryType.RaftEntryNormal }]);
    }

    private void StartElection(bool preVote, bool transfer)
    {
        if (!Promotable)
        {
            return;
        }

        if (HasUnappliedConfChange())
        {
            // Campaigning before the configuration is known could elect a leader of a stale group.
            return;
        }

        ulong term;
        RaftMessageType type;
        if (preVote)
        {
            BecomePreCandidate();
            term = Term + 1;
            type = RaftMessageType.RaftMsgPreVote;
        }
        else
        {
            BecomeCandidate();
            term = Term;
            type = RaftMessageType.RaftMsgVote;
        }

        if (RecordVote(Id, granted: true) == VoteResult.Won)
        {
            if (preVote)
            {
                StartElection(preVote: false, transfer);
            }
            else
            {
                BecomeLeader();
            }

            return;
        }

        foreach (var voter in _voters)
        {
            if (voter == Id)
            {
                continue;
            }

            Send(new RaftMessage
            {
                Type = type,
                To = voter,
                Term = term,
                Index = _log.LastIndex,
                LogTerm = _log.LastTerm,
                Context = transfer ? TransferContext : ByteString.Empty,
            });
        }
    }

    private bool HasUnappliedConfChange()
    {
        if (_log.Committed <= _log.Applied)
        {
            return false;
        }

        var pending = _log.Slice(Math.Max(_log.Applied + 1, _log.FirstIndex), _log.Committed, long.MaxValue) ?? [];
        return pending.Any(e => e.Type == RaftEntryType.RaftEntryConfChange);
    }

    private enum VoteResult
    {
        Pending,
        Won,
        Lost,
    }

    private VoteResult RecordVote(ulong from, bool granted)
    {
        _votes.TryAdd(from, granted);
        var yes = _votes.Count(v => v.Value && _voters.Contains(v.Key));
        var no = _votes.Count(v => !v.Value && _voters.Contains(v.Key));
        if (yes >= Quorum)
        {
            return VoteResult.Won;
        }

        return _voters.Count - no < Quorum ? VoteResult.Lost : VoteResult.Pending;
    }

    private (ulong Index, ulong Term) AppendProposal(RaftEntryType type, ByteString data)
    {
        if (Role != RaftRole.Leader)
        {
            throw new NotLeaderException(Lead);
        }

        if (LeadTransferee != 0)
        {
            throw new InvalidOperationException($"leadership is being transferred to {LeadTransferee:x}; retry on the new leader");
        }

        var entry = new RaftEntry { Term = Term, Index = _log.LastIndex + 1, Type = type, Data = data };
        _log.Append([entry]);
        BroadcastAppend();
        return (entry.Index, entry.Term);
    }

    private void Send(RaftMessage message)
    {
        message.From = Id;
        if (message.Term == 0 && message.Type is not (RaftMessageType.RaftMsgProp or RaftMessageType.RaftMsgReadIndex or RaftMessageType.RaftMsgTransferLeader))
        {
            message.Term = Term;
        }

        _messages.Add(message);
    }
}
