package contracts

import (
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// ChatService holds the 1:1 chat rooms between a consumer and a seller about a product: the
// rooms, their messages, read receipts and unread counts, in its own MongoDB database. After a
// message or a receipt is stored it pushes it live (see [Push]) to both members' push
// subjects; typing indicators are ephemeral and never reach it.
var ChatService = Service{Name: "chat", Version: "1.0.0", Major: 1,
	Description: "1:1 chat rooms between a consumer and a seller about a product"}

// Chat limits, part of the contract so that clients can check early.
const (
	ChatMaxTextLen        = 4000 // runes, after trimming
	ChatMaxClientMsgIDLen = 64   // bytes
	ChatHistoryDefault    = 50
	ChatHistoryMax        = 100
	ChatRoomsDefault      = 50
	ChatRoomsMax          = 100
)

// Push topics of the chat service (contracts.Push.Topic). A chat.message push carries a
// ChatMessage, a chat.read push a ChatReadReceipt. Pushes may repeat (a retried send pushes its
// message again), so clients deduplicate by message id.
const (
	PushTopicChatMessage = "chat.message"
	PushTopicChatRead    = "chat.read"
)

// Chat endpoints. Every call needs an access token: the caller is the user of the verified
// token, never a field of the request. Only a room's two members can see or use it; to anyone
// else a room is not_found, exactly like a room that does not exist, so room ids reveal nothing.
var (
	ChatOpenRoom = Endpoint[ChatOpenRoomRequest, ChatRoom]{Service: ChatService, Name: "open_room", Access: AccessConsumer, Idempotent: true,
		Description: "a consumer opens (or reopens) the room with the seller of a product"}
	ChatSend = Endpoint[ChatSendRequest, ChatSendAck]{Service: ChatService, Name: "send", Access: AccessSignedIn, Owner: true, Idempotent: true,
		Description: "send a message; the ack comes after it is stored; a repeated client_msg_id returns the first ack"}
	ChatHistory = Endpoint[ChatHistoryRequest, ChatHistoryPage]{Service: ChatService, Name: "history", Access: AccessSignedIn, Owner: true, Idempotent: true,
		Description: "a room's messages, newest first, in keyset pages"}
	ChatMarkRead = Endpoint[ChatMarkReadRequest, ChatReadReceipt]{Service: ChatService, Name: "mark_read", Access: AccessSignedIn, Owner: true, Idempotent: true,
		Description: "move the caller's read position in a room forward to a message"}
	ChatRooms = Endpoint[ChatRoomsRequest, ChatRoomList]{Service: ChatService, Name: "rooms", Access: AccessSignedIn, Idempotent: true,
		Description: "the caller's rooms, most recently active first, with unread counts and the last message"}
	ChatUnread = Endpoint[Empty, ChatUnreadCount]{Service: ChatService, Name: "unread", Access: AccessSignedIn, Idempotent: true,
		Description: "the caller's unread messages over all rooms"}
	ChatGetRoom = Endpoint[ChatRoomRef, ChatRoom]{Service: ChatService, Name: "room", Access: AccessSignedIn, Owner: true, Idempotent: true,
		Description: "one room with its member ids (members only); the edge uses it to authorize typing signals"}
)

func init() {
	register(ChatOpenRoom, ChatSend, ChatHistory, ChatMarkRead, ChatRooms, ChatUnread, ChatGetRoom)
}

// ChatRoom is a room between one consumer and the seller of one product. Its id is derived from
// (product_id, consumer_id), so opening it again returns the same room.
type ChatRoom struct {
	ID         string `json:"id"`
	ProductID  string `json:"product_id"`
	ConsumerID string `json:"consumer_id"`
	SellerID   string `json:"seller_id"`
	// ProductTitle is the product's title when the room was opened.
	ProductTitle string    `json:"product_title"`
	CreatedAt    time.Time `json:"created_at"`
}

// ChatMessage is one stored message. SentAt is the server's time of storing it; messages of a
// room are ordered by (sent_at, id).
type ChatMessage struct {
	ID          string    `json:"id"`
	RoomID      string    `json:"room_id"`
	SenderID    string    `json:"sender_id"`
	Text        string    `json:"text"`
	ClientMsgID string    `json:"client_msg_id"`
	SentAt      time.Time `json:"sent_at"`
}

// ChatOpenRoomRequest opens the caller's room about a product (consumers only). The seller is
// the product's seller, learnt from the catalog.
type ChatOpenRoomRequest struct {
	ProductID string `json:"product_id"`
}

// Validate checks the product id.
func (r ChatOpenRoomRequest) Validate() error { return ValidateProductID("product_id", r.ProductID) }

// Rules states Validate's rules (see Rules).
func (ChatOpenRoomRequest) Rules() Rules { return Rules{Fields: fields("product_id", ruleUUID)} }

// ChatRoomRef names one room.
type ChatRoomRef struct {
	RoomID string `json:"room_id"`
}

// Validate checks the room id.
func (r ChatRoomRef) Validate() error { return ValidateChatID("room_id", r.RoomID) }

// Rules states Validate's rules (see Rules).
func (ChatRoomRef) Rules() Rules { return Rules{Fields: fields("room_id", ruleToken)} }

// ruleClientMsgID is ValidateClientMsgID's rule.
var ruleClientMsgID = Rule{MinLength: 1, MaxLength: ChatMaxClientMsgIDLen, MaxBytes: ChatMaxClientMsgIDLen, Pattern: PatternToken, Example: "c-1"}

// ChatSendRequest sends text to a room. ClientMsgID is chosen by the client, unique per message
// it sends to the room: sending again with the same one (a retry after a lost ack) returns the
// first ack and stores nothing; reusing it for a different text is a conflict.
type ChatSendRequest struct {
	RoomID      string `json:"room_id"`
	Text        string `json:"text"`
	ClientMsgID string `json:"client_msg_id"`
}

// Validate checks every field.
func (r ChatSendRequest) Validate() error {
	if err := ValidateChatID("room_id", r.RoomID); err != nil {
		return err
	}
	if _, err := NormalizeChatText("text", r.Text); err != nil {
		return err
	}
	return ValidateClientMsgID("client_msg_id", r.ClientMsgID)
}

// Rules states Validate's rules (see Rules). The service turns CRLF and CR into LF and trims
// the text before counting it.
func (ChatSendRequest) Rules() Rules {
	return Rules{Fields: fields("room_id", ruleToken,
		"text", Rule{MinLength: 1, MaxLength: ChatMaxTextLen, Pattern: PatternChatText, Example: "Hello!"},
		"client_msg_id", ruleClientMsgID)}
}

// ChatSendAck confirms a stored message.
type ChatSendAck struct {
	MessageID   string    `json:"message_id"`
	RoomID      string    `json:"room_id"`
	ClientMsgID string    `json:"client_msg_id"`
	SentAt      time.Time `json:"sent_at"`
	// Duplicate is set when the message had been stored by an earlier send with the same
	// client_msg_id.
	Duplicate bool `json:"duplicate,omitempty"`
}

// ChatHistoryRequest asks for a page of a room's messages, newest first. Before is the id of a
// message of the room (the oldest one the client has): the page holds the messages older than
// it. Limit defaults to ChatHistoryDefault.
type ChatHistoryRequest struct {
	RoomID string `json:"room_id"`
	Before string `json:"before,omitempty"`
	Limit  int    `json:"limit,omitempty"`
}

// Validate checks the room, cursor and limit.
func (r ChatHistoryRequest) Validate() error {
	if err := ValidateChatID("room_id", r.RoomID); err != nil {
		return err
	}
	if r.Before != "" {
		if err := ValidateChatID("before", r.Before); err != nil {
			return err
		}
	}
	return chatLimit(r.Limit, ChatHistoryMax, ChatHistoryDefault)
}

// Rules states Validate's rules (see Rules).
func (ChatHistoryRequest) Rules() Rules {
	return Rules{Fields: fields("room_id", ruleToken, "before", optional(ruleToken), "limit", limitRule(ChatHistoryMax))}
}

// ChatHistoryPage is one page of messages, newest first. HasMore says whether older messages
// exist: ask again with Before set to the last item's id.
type ChatHistoryPage struct {
	Items   []ChatMessage `json:"items"`
	HasMore bool          `json:"has_more"`
}

// ChatMarkReadRequest marks the room read up to and including a message. The read position only
// moves forward: marking an older message changes nothing.
type ChatMarkReadRequest struct {
	RoomID        string `json:"room_id"`
	UpToMessageID string `json:"up_to_message_id"`
}

// Validate checks the ids.
func (r ChatMarkReadRequest) Validate() error {
	if err := ValidateChatID("room_id", r.RoomID); err != nil {
		return err
	}
	return ValidateChatID("up_to_message_id", r.UpToMessageID)
}

// Rules states Validate's rules (see Rules).
func (ChatMarkReadRequest) Rules() Rules {
	return Rules{Fields: fields("room_id", ruleToken, "up_to_message_id", ruleToken)}
}

// ChatReadReceipt is a member's read position in a room after mark_read: it may be later than
// the message asked for, when the member had read further already. It is pushed as chat.read
// to both members.
type ChatReadReceipt struct {
	RoomID        string    `json:"room_id"`
	ReaderID      string    `json:"reader_id"`
	UpToMessageID string    `json:"up_to_message_id"`
	UpToSentAt    time.Time `json:"up_to_sent_at"`
	// Unread is the reader's unread count left in the room.
	Unread int64 `json:"unread"`
}

// ChatRoomsRequest asks for a page of the caller's rooms, most recently active first. Before is
// the id of the last room of the previous page. Activity moves rooms to the top, so a room can
// appear on two pages while the caller pages.
type ChatRoomsRequest struct {
	Before string `json:"before,omitempty"`
	Limit  int    `json:"limit,omitempty"`
}

// Validate checks cursor and limit.
func (r ChatRoomsRequest) Validate() error {
	if r.Before != "" {
		if err := ValidateChatID("before", r.Before); err != nil {
			return err
		}
	}
	return chatLimit(r.Limit, ChatRoomsMax, ChatRoomsDefault)
}

// Rules states Validate's rules (see Rules).
func (ChatRoomsRequest) Rules() Rules {
	return Rules{Fields: fields("before", optional(ruleToken), "limit", limitRule(ChatRoomsMax))}
}

// ChatRoomSummary is a room in the caller's list: the caller's unread count and the room's last
// message (absent in a room without messages).
type ChatRoomSummary struct {
	Room        ChatRoom     `json:"room"`
	Unread      int64        `json:"unread"`
	LastMessage *ChatMessage `json:"last_message,omitempty"`
}

// ChatRoomList is one page of the caller's rooms.
type ChatRoomList struct {
	Items   []ChatRoomSummary `json:"items"`
	HasMore bool              `json:"has_more"`
}

// ChatUnreadCount is the caller's unread messages: the total and the number of rooms they are in.
type ChatUnreadCount struct {
	Total int64 `json:"total"`
	Rooms int   `json:"rooms"`
}

// ValidateChatID checks a room or message id: a value that is safe in a subject (see [Token]).
func ValidateChatID(field, id string) error {
	if id == "" {
		return ErrValidation.OnField(field, "%s must not be empty", field)
	}
	if !IsToken(id) {
		return ErrValidation.OnField(field, "%s is not a valid id", field)
	}
	return nil
}

// ValidateClientMsgID checks a client message id: 1..ChatMaxClientMsgIDLen bytes without
// spaces, dots, wildcards or control characters.
func ValidateClientMsgID(field, id string) error {
	if id == "" || len(id) > ChatMaxClientMsgIDLen || !IsToken(id) {
		return ErrValidation.OnField(field, "%s must be 1..%d bytes without spaces, '.', '*', '>' or control characters",
			field, ChatMaxClientMsgIDLen)
	}
	return nil
}

// NormalizeChatText returns a message text as it is stored: CRLF and CR line breaks become
// LF, surrounding white space is trimmed, and the result must have 1..ChatMaxTextLen runes of
// valid UTF-8 with no control character other than the line break.
func NormalizeChatText(field, s string) (string, error) {
	if !utf8.ValidString(s) {
		return "", ErrValidation.OnField(field, "%s is not valid UTF-8", field)
	}
	s = strings.ReplaceAll(s, "\r\n", "\n")
	s = strings.ReplaceAll(s, "\r", "\n")
	s = strings.TrimSpace(s)
	if s == "" {
		return "", ErrValidation.OnField(field, "%s must not be empty", field)
	}
	if utf8.RuneCountInString(s) > ChatMaxTextLen {
		return "", ErrValidation.OnField(field, "%s is longer than %d characters", field, ChatMaxTextLen)
	}
	for _, r := range s {
		if r != '\n' && unicode.IsControl(r) {
			return "", ErrValidation.OnField(field, "%s contains a control character", field)
		}
	}
	return s, nil
}

func chatLimit(n, most, def int) error {
	if n < 0 || n > most {
		return ErrValidation.OnField("limit", "limit must be between 1 and %d (0 means %d)", most, def)
	}
	return nil
}
