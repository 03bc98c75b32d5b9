using Google.Protobuf;
using Shoal.Api;

namespace Shoal.Raft.Core;

public sealed partial class RaftCore
{
    /// <summary>Feeds one message from a peer (or a local one) to the state machine.</summary>
    public void Step(RaftMessage m)
    {
        if (m.Term > Term && !StepHigherTerm(m))
        {
            return;
        }

        if (m.Term != 0 && m.Term < Term)
        {
            StepLowerTerm(m);
            return;
        }

        switch (m.Type)
        {
            case RaftMessageType.RaftMsgHup:
                if (Role != RaftRole.Leader)
                {
                    StartElection(preVote: _config.PreVote, transfer: false);
                }

                return;
            case RaftMessageType.RaftMsgVote:
            case RaftMessageType.RaftMsgPreVote:
                StepVoteRequest(m);
                return;
            default:
                break;
        }

        switch (Role)
        {
            case RaftRole.Leader:
                StepLeader(m);
                break;
            case RaftRole.Candidate:
            case RaftRole.PreCandidate:
                StepCandidate(m);
                break;
            default:
                StepFollower(m);
                break;
        }
    }

    /// <summary>A message of a later term; false when it is to be ignored.</summary>
    private bool StepHigherTerm(RaftMessage m)
    {
        if (m.Type is RaftMessageType.RaftMsgVote or RaftMessageType.RaftMsgPreVote)
        {
            var force = m.Context.Equals(TransferContext);
            var inLease = _config.CheckQuorum && Lead != 0 && _electionElapsed < _config.ElectionTick;
            if (!force && inLease)
            {
                // We heard from a leader within the election timeout: do not let a disruptive member depose it.
                return false;
            }
        }

        switch (m.Type)
        {
            case RaftMessageType.RaftMsgPreVote:
                // A pre-vote never changes our term.
                return true;
            case RaftMessageType.RaftMsgPreVoteResp when !m.Reject:
                // Our pre-vote was granted in the term we would campaign in: the term is raised when we do.
                return true;
            case RaftMessageType.RaftMsgApp:
            case RaftMessageType.RaftMsgHeartbeat:
            case RaftMessageType.RaftMsgSnap:
                BecomeFollower(m.Term, m.From);
                return true;
            default:
                BecomeFollower(m.Term, 0);
                return true;
        }
    }

    private void StepLowerTerm(RaftMessage m)
    {
        if (m.Type is RaftMessageType.RaftMsgHeartbeat or RaftMessageType.RaftMsgApp)
        {
            // A stale leader: tell it our term so that it steps down (§5.1). It could not learn it otherwise: with
            // pre-vote and check-quorum our votes never reach it, and without them we ask for votes only the members
            // we know of, which may all have been replaced while we were away.
            Send(new RaftMessage { Type = RaftMessageType.RaftMsgAppResp, To = m.From });
        }
        else if (m.Type == RaftMessageType.RaftMsgPreVote)
        {
            Send(new RaftMessage { Type = RaftMessageType.RaftMsgPreVoteResp, To = m.From, Reject = true });
        }
    }

    private void StepVoteRequest(RaftMessage m)
    {
        var canVote = Vote == m.From
            || (Vote == 0 && Lead == 0)
            || (m.Type == RaftMessageType.RaftMsgPreVote && m.Term > Term);
        var responseType = m.Type == RaftMessageType.RaftMsgVote ? RaftMessageType.RaftMsgVoteResp : RaftMessageType.RaftMsgPreVoteResp;
        if (canVote && _log.IsUpToDate(m.Index, m.LogTerm))
        {
            // The response carries the request's term: for a pre-vote that is the future term the candidate
            // campaigns in, which we do not adopt.
            Send(new RaftMessage { Type = responseType, To = m.From, Term = m.Term });
            if (m.Type == RaftMessageType.RaftMsgVote)
            {
                _electionElapsed = 0;
                Vote = m.From;
            }
        }
        else
        {
            Send(new RaftMessage { Type = responseType, To = m.From, Term = Term, Reject = true });
        }
    }

    // ------------------------------------------------------------------------------------------------------------
    // Leader

    private void StepLeader(RaftMessage m)
    {
        switch (m.Type)
        {
            case RaftMessageType.RaftMsgBeat:
                BroadcastHeartbeat(_reads.LastContext);
                return;
            case RaftMessageType.RaftMsgCheckQuorum:
                if (!QuorumActive())
                {
                    BecomeFollower(Term, 0);
                }

                foreach (var (id, progress) in _progress)
                {
                    if (id != Id)
                    {
                        progress.RecentActive = false;
                    }
                }

                return;
            case RaftMessageType.RaftMsgReadIndex:
                StepLeaderReadIndex(m);
                return;
            case RaftMessageType.RaftMsgTransferLeader:
                StepTransferLeader(m);
                return;
            default:
                break;
        }

        if (!_progress.TryGetValue(m.From, out var pr))
        {
            return; // not a member (any more)
        }

        switch (m.Type)
        {
            case RaftMessageType.RaftMsgAppResp:
                pr.RecentActive = true;
                if (m.Reject)
                {
                    var hint = m.RejectHint;
                    if (m.LogTerm > 0)
                    {
                        // Skip every entry of ours whose term is above the follower's at that index.
                        hint = _log.FindConflictByTerm(m.RejectHint, m.LogTerm).Index;
                    }

                    if (pr.MaybeDecreaseTo(m.Index, hint))
                    {
                        if (pr.State == ProgressState.Replicate)
                        {
                            pr.BecomeProbe();
                        }

                        SendAppend(m.From);
                    }
                }
                else
                {
                    var wasPaused = pr.IsPaused;
                    if (pr.MaybeUpdate(m.Index))
                    {
                        switch (pr.State)
                        {
                            case ProgressState.Probe:
                                pr.BecomeReplicate();
                                break;
                            case ProgressState.Snapshot when pr.Match + 1 >= _log.FirstIndex:
                                pr.BecomeProbe();
                                pr.BecomeReplicate();
                                break;
                            case ProgressState.Replicate:
                                pr.Inflights.FreeLE(m.Index);
                                break;
                            default:
                                break;
                        }

                        if (MaybeCommit())
                        {
                            BroadcastAppend();
                            ReleaseReadsAfterFirstCommit();
                        }
                        else if (wasPaused)
                        {
                            SendAppend(m.From);
                        }

                        // Keep the pipeline full.
                        while (!pr.IsPaused && pr.Next <= _log.LastIndex && SendAppend(m.From, sendIfEmpty: false))
                        {
                        }

                        if (m.From == LeadTransferee && pr.Match == _log.LastIndex)
                        {
                            Send(new RaftMessage { Type = RaftMessageType.RaftMsgTimeoutNow, To = m.From });
                        }
                    }
                }

                return;
            case RaftMessageType.RaftMsgHeartbeatResp:
                pr.RecentActive = true;
                pr.ProbeSent = false;
                if (pr.State == ProgressState.Replicate && pr.Inflights.Full)
                {
                    // The member is reachable: let one more append go. If those in flight were lost, the member
                    // refuses it and we probe back to where the logs match (freeing only what it acknowledged would
                    // free nothing then, and the window would stay full for good).
                    pr.Inflights.FreeFirstOne();
                }

                if (pr.Match < _log.LastIndex)
                {
                    SendAppend(m.From);
                }

                if (!m.Context.IsEmpty && _reads.Acknowledge(m.From, m.Context) >= Quorum)
                {
                    foreach (var (index, request) in _reads.Release(m.Context))
                    {
                        AnswerRead(index, request);
                    }
                }

                return;
            case RaftMessageType.RaftMsgSnapStatus:
                if (pr.State == ProgressState.Snapshot)
                {
                    if (m.Reject)
                    {
                        pr.PendingSnapshot = 0;
                    }

                    pr.BecomeProbe();
                    // Wait for a heartbeat response before the next probe: the snapshot may still be applying.
                    pr.ProbeSent = true;
                }

                return;
            case RaftMessageType.RaftMsgUnreachable:
                if (pr.State == ProgressState.Replicate)
                {
                    pr.BecomeProbe();
                }

                return;
            default:
                return;
        }
    }

    private void StepLeaderReadIndex(RaftMessage m)
    {
        if (!CommittedInCurrentTerm())
        {
            // Our commit index may lag the true one until an entry of our term commits: hold the read until then.
            _pendingReadIndex.Add(m);
            return;
        }

        if (_voters.Count == 1)
        {
            AnswerRead(_log.Committed, m);
            return;
        }

        _reads.Add(_log.Committed, m, Id);
        BroadcastHeartbeat(m.Context);
    }

    private void ReleaseReadsAfterFirstCommit()
    {
        if (_pendingReadIndex.Count == 0 || !CommittedInCurrentTerm())
        {
            return;
        }

        var pending = _pendingReadIndex.ToList();
        _pendingReadIndex.Clear();
        foreach (var request in pending)
        {
            StepLeaderReadIndex(request);
        }
    }

    private bool CommittedInCurrentTerm() => _log.Term(_log.Committed) == Term;

    private void AnswerRead(ulong index, RaftMessage request)
    {
        if (request.From == Id || request.From == 0)
        {
            _readStates.Add(new ReadState(index, request.Context));
        }
        else
        {
            Send(new RaftMessage
            {
                Type = RaftMessageType.RaftMsgReadIndexResp,
                To = request.From,
                Index = index,
                Context = request.Context,
            });
        }
    }

    private void StepTransferLeader(RaftMessage m)
    {
        var transferee = m.From;
        if (transferee == Id || !_progress.TryGetValue(transferee, out var pr))
        {
            return;
        }

        if (LeadTransferee == transferee)
        {
            return;
        }

        LeadTransferee = transferee;
        // The transfer must finish within an election timeout.
        _electionElapsed = 0;
        if (pr.Match == _log.LastIndex)
        {
            Send(new RaftMessage { Type = RaftMessageType.RaftMsgTimeoutNow, To = transferee });
        }
        else
        {
            SendAppend(transferee);
        }
    }

    private bool QuorumActive()
    {
        var active = 0;
        foreach (var voter in _voters)
        {
            if (voter == Id || (_progress.TryGetValue(voter, out var pr) && pr.RecentActive))
            {
                active++;
            }
        }

        return active >= Quorum;
    }

    /// <summary>Commits the highest index a quorum has persisted, if it is of the current term.</summary>
    private bool MaybeCommit()
    {
        // Runs on every acknowledgement: sort the voters' match indexes in a stack buffer, no allocation.
        if (_voters.Count == 0)
        {
            return false;
        }

        Span<ulong> matches = _voters.Count <= 16 ? stackalloc ulong[_voters.Count] : new ulong[_voters.Count];
        var i = 0;
        foreach (var voter in _voters)
        {
            matches[i++] = _progress.TryGetValue(voter, out var pr) ? pr.Match : 0;
        }

        matches.Sort();
        var quorumIndex = matches[_voters.Count - Quorum]; // the highest index a quorum has
        return _log.MaybeCommit(quorumIndex, Term);
    }

    private void BroadcastAppend()
    {
        foreach (var id in _progress.Keys)
        {
            if (id != Id)
            {
                SendAppend(id);
            }
        }
    }

    private void BroadcastHeartbeat(ByteString? context)
    {
        foreach (var (id, pr) in _progress)
        {
            if (id == Id)
            {
                continue;
            }

            Send(new RaftMessage
            {
                Type = RaftMessageType.RaftMsgHeartbeat,
                To = id,
                // Never tell a follower to commit past what it is known to have.
                Commit = Math.Min(pr.Match, _log.Committed),
                Context = context ?? ByteString.Empty,
            });
        }
    }

    /// <summary>Sends the entries <paramref name="to"/> needs next (or a snapshot); false when nothing was sent.</summary>
    private bool SendAppend(ulong to, bool sendIfEmpty = true)
    {
        var pr = _progress[to];
        if (pr.IsPaused)
        {
            return false;
        }

        var prevTerm = _log.Term(pr.Next - 1);
        var entries = prevTerm is null ? null : _log.Slice(pr.Next, _log.LastIndex, _config.MaxSizePerMessage);
        if (entries is null)
        {
            return SendSnapshot(to, pr);
        }

        if (entries.Count == 0 && !sendIfEmpty)
        {
            return false;
        }

        var message = new RaftMessage
        {
            Type = RaftMessageType.RaftMsgApp,
            To = to,
            Index = pr.Next - 1,
            LogTerm = prevTerm!.Value,
            Commit = _log.Committed,
        };
        message.Entries.AddRange(entries);
        Send(message);
        switch (pr.State)
        {
            case ProgressState.Replicate when entries.Count > 0:
                pr.OptimisticUpdate(entries[^1].Index);
                pr.Inflights.Add(entries[^1].Index);
                break;
            case ProgressState.Probe:
                pr.ProbeSent = true;
                break;
            default:
                break;
        }

        return true;
    }

    private bool SendSnapshot(ulong to, Progress pr)
    {
        if (!pr.RecentActive)
        {
            // Do not ship a snapshot to a member we have not heard from.
            return false;
        }

        if (_snapshot is null || _snapshot.Metadata.Index < _log.CompactedIndex)
        {
            // The entries it needs are compacted and no snapshot covers them yet: the driver's next snapshot will.
            return false;
        }

        Send(new RaftMessage { Type = RaftMessageType.RaftMsgSnap, To = to, Snapshot = _snapshot });
        pr.BecomeSnapshot(_snapshot.Metadata.Index);
        return true;
    }

    // ------------------------------------------------------------------------------------------------------------
    // Candidates

    private void StepCandidate(RaftMessage m)
    {
        var myResponse = Role == RaftRole.PreCandidate ? RaftMessageType.RaftMsgPreVoteResp : RaftMessageType.RaftMsgVoteResp;
        switch (m.Type)
        {
            case RaftMessageType.RaftMsgApp:
                BecomeFollower(m.Term, m.From);
                HandleAppend(m);
                return;
            case RaftMessageType.RaftMsgHeartbeat:
                BecomeFollower(m.Term, m.From);
                HandleHeartbeat(m);
                return;
            case RaftMessageType.RaftMsgSnap:
                BecomeFollower(m.Term, m.From);
                HandleSnapshot(m);
                return;
            case RaftMessageType.RaftMsgReadIndexResp:
                _readStates.Add(new ReadState(m.Index, m.Context));
                return;
            default:
                break;
        }

        if (m.Type != myResponse)
        {
            return;
        }

        switch (RecordVote(m.From, !m.Reject))
        {
            case VoteResult.Won when Role == RaftRole.PreCandidate:
                StartElection(preVote: false, transfer: false);
                break;
            case VoteResult.Won:
                BecomeLeader();
                BroadcastAppend();
                break;
            case VoteResult.Lost:
                BecomeFollower(Term, 0);
                break;
            default:
                break;
        }
    }

    // ------------------------------------------------------------------------------------------------------------
    // Followers

    private void StepFollower(RaftMessage m)
    {
        switch (m.Type)
        {
            case RaftMessageType.RaftMsgApp:
                _electionElapsed = 0;
                Lead = m.From;
                HandleAppend(m);
                return;
            case RaftMessageType.RaftMsgHeartbeat:
                _electionElapsed = 0;
                Lead = m.From;
                HandleHeartbeat(m);
                return;
            case RaftMessageType.RaftMsgSnap:
                _electionElapsed = 0;
                Lead = m.From;
                HandleSnapshot(m);
                return;
            case RaftMessageType.RaftMsgTransferLeader:
                if (Lead != 0)
                {
                    m.To = Lead;
                    m.Term = 0;
                    _messages.Add(m);
                }

                return;
            case RaftMessageType.RaftMsgTimeoutNow:
                // The leader hands over: campaign at once, without a pre-vote, and override the voters' lease.
                StartElection(preVote: false, transfer: true);
                return;
            case RaftMessageType.RaftMsgReadIndex:
                if (Lead != 0)
                {
                    _messages.Add(new RaftMessage { Type = RaftMessageType.RaftMsgReadIndex, To = Lead, From = Id, Context = m.Context });
                }

                return;
            case RaftMessageType.RaftMsgReadIndexResp:
                _readStates.Add(new ReadState(m.Index, m.Context));
                return;
            default:
                return;
        }
    }

    private void HandleAppend(RaftMessage m)
    {
        if (m.Index < _log.Committed)
        {
            Send(new RaftMessage { Type = RaftMessageType.RaftMsgAppResp, To = m.From, Index = _log.Committed });
            return;
        }

        if (_log.MaybeAppend(m.Index, m.LogTerm, m.Commit, m.Entries) is { } lastNew)
        {
            Send(new RaftMessage { Type = RaftMessageType.RaftMsgAppResp, To = m.From, Index = lastNew });
            return;
        }

        // Tell the leader where our log may match: the last index at or below its probe whose term is at most the
        // term it sent, so that it skips whole terms of divergent entries at once.
        var (hintIndex, hintTerm) = _log.FindConflictByTerm(Math.Min(m.Index, _log.LastIndex), m.LogTerm);
        Send(new RaftMessage
        {
            Type = RaftMessageType.RaftMsgAppResp,
            To = m.From,
            Index = m.Index,
            Reject = true,
            RejectHint = hintIndex,
            LogTerm = hintTerm,
        });
    }

    private void HandleHeartbeat(RaftMessage m)
    {
        _log.CommitTo(Math.Min(m.Commit, _log.LastIndex));
        Send(new RaftMessage { Type = RaftMessageType.RaftMsgHeartbeatResp, To = m.From, Context = m.Context });
    }

    private void HandleSnapshot(RaftMessage m)
    {
        var snapshot = m.Snapshot;
        var index = snapshot.Metadata.Index;
        if (index <= _log.Committed)
        {
            Send(new RaftMessage { Type = RaftMessageType.RaftMsgAppResp, To = m.From, Index = _log.Committed });
            return;
        }

        if (_log.MatchTerm(index, snapshot.Metadata.Term))
        {
            // We already have the entries the snapshot covers: just commit them.
            _log.CommitTo(index);
            Send(new RaftMessage { Type = RaftMessageType.RaftMsgAppResp, To = m.From, Index = _log.LastIndex });
            return;
        }

        _log.Restore(snapshot);
        _voters.Clear();
        foreach (var member in snapshot.Metadata.Members)
        {
            _voters.Add(member.RaftId);
        }

        Send(new RaftMessage { Type = RaftMessageType.RaftMsgAppResp, To = m.From, Index = _log.LastIndex });
    }
}
